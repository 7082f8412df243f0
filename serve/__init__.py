"""Ray Serve application for online scoring (DESIGN.md §4). Built in the online-scoring issue."""
