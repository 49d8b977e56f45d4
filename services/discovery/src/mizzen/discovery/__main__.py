"""``python -m mizzen.discovery``."""

from mizzen.discovery.app import main

main()
