"""idnode: a secondary-node style identifier resolution service for the industrial internet."""

__version__ = "0.1.0"
