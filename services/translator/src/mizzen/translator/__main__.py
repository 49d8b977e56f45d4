"""``python -m mizzen.translator``."""

from mizzen.translator.app import main

main()
