"""Russian dates without Django's trailing "г.": our sentences end in a date ("…
действует до 7 декабря 2026."), and "2026 г.." is a typo on every such page. Every
other Russian format is Django's."""

DATE_FORMAT = "j E Y"
