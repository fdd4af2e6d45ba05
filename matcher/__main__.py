from matcher.cli.app import run

run()
