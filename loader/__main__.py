from loader.cli import cli

cli()
