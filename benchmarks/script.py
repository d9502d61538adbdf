"""What the benchmark scripts share: a click command that keeps its arguments for provenance and
ends as microgpt's own commands end on a MicrogptError, with one `Error:` line and exit 1."""
import click

from microgpt.errors import MicrogptError


class Script(click.Command):
    def parse_args(self, ctx, args):
        ctx.meta['argv'] = list(args)
        return super().parse_args(ctx, args)

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except MicrogptError as e:
            raise click.ClickException(str(e)) from None
