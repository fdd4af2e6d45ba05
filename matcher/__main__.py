from matcher.cli import run

run()
