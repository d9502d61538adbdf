"""`microgpt export`: a checkpoint as standard weights."""
import click

from .options import console


@click.command('export')
@click.argument('checkpoint_path', metavar='CHECKPOINT', type=click.Path())
@click.argument('folder', metavar='DIR', type=click.Path())
@click.option('--force', is_flag=True,
              help="Write into DIR even when it holds files: its config.json and model.safetensors are "
                   "replaced, any other file stays.")
def export(checkpoint_path, folder, force):
    """Write a checkpoint's model as standard weights: DIR/config.json (its settings, dtype,
    vocabulary and BOS) and DIR/model.safetensors (every weight under the checkpoint's names,
    float32 or float64 as trained), which PyTorch and Hugging Face tools read. sample, eval,
    report, predict, surprise and trace take DIR wherever they take a checkpoint. Needs the
    safetensors library (the export extra).

    \b
    Examples:
      microgpt export microgpt.ckpt.json exported
      microgpt sample --checkpoint exported
    """
    from ..files.checkpoint import load_checkpoint
    from ..files.export import check_export_folder, safetensors_numpy, write_export
    safetensors_numpy()
    check_export_folder(folder, force)
    written = write_export(load_checkpoint(checkpoint_path), folder, force)
    console().info(f"exported {checkpoint_path} to {written['folder']}: config.json and model.safetensors "
                   f"({written['tensors']} tensors, {written['parameters']:,} parameters, {written['dtype']})")
