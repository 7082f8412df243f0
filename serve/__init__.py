"""Ray Serve application for online scoring (docs/serving.md)."""
