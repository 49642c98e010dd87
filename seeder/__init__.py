"""PeerPipe package."""
