"""One module per family: its sizes as configs, its registry entries and its official-checkpoint converter."""
