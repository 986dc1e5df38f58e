"""Building blocks without models: phone numbers, keys, tokens, SMS text, the clock."""
