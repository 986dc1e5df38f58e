"""The social layer: profiles, friends, blocks, walls and private messages."""
