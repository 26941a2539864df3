"""The pure core: the mirror and its halves, the state model, the topic contract, the owner loop."""
