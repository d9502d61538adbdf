"""How durations and rows of numbers read as text: the layout that a domain's report (the
tables of `analyze`) and a command's printed lines share. Nothing here prints."""


def format_duration(seconds):
    minutes, secs = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    if hours:
        return f"{hours}h{minutes:02d}m{secs:02d}s"
    return f"{minutes}m{secs:02d}s" if minutes else f"{seconds:.1f}s"


def format_table(header, body, markdown=False):
    """Right-aligned columns, or a Markdown table."""
    if markdown:
        lines = [header, ['---:'] * len(header)] + body
        return '\n'.join('| ' + ' | '.join(cells) + ' |' for cells in lines)
    widths = [max(len(cells[i]) for cells in [header] + body) for i in range(len(header))]
    return '\n'.join('  '.join(cell.rjust(w) for cell, w in zip(cells, widths)).rstrip()
                     for cells in [header] + body)
