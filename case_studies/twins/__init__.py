"""Case study: relative safety margins of compressed twins (digits MLP, athletes MLP)."""
