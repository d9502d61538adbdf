"""The report's place to play: the checkpoint's weights as JSON in the page and a forward
pass in JavaScript over them (float64, as numpy's), which shows the next character's
probabilities after a typed prefix, samples names and draws every head's attention, offline.
The script is playground.js; the page exposes it as `window.microgpt` (docs/pages/see-it.md
lists its functions).
"""
import html
import json

from . import BOS_LABEL, package_text

END_KEY = BOS_LABEL  # the probability that the name ends here: the model predicts BOS
# The page embeds every weight (about 20 bytes each as JSON); past this many (about 4 MB)
# it leaves the playground out rather than be a page slow to open.
PLAYGROUND_PARAM_LIMIT = 200_000


def fits_playground(config):
    return config.num_params() <= PLAYGROUND_PARAM_LIMIT


def model_json(config, chars, state_dict):
    """The model as the page's script reads it; every weight as Python writes a float, so
    JavaScript parses the very same float64."""
    model = {
        'n_layer': config.n_layer, 'n_head': config.n_head, 'n_embd': config.n_embd,
        'block_size': config.block_size, 'chars': list(chars), 'end_key': END_KEY,
        'weights': {name: state_dict[name] for name, _ in config.param_shapes()},
    }
    # inside <script>: no '</script>' can close it early
    return json.dumps(model, separators=(',', ':')).replace('<', '\\u003c')


def playground_section(config, chars, state_dict, text, temperature):
    """The playground's HTML: the prefix box, the bars, the temperature slider and samples,
    the heatmaps, the weights and the script."""
    prefix = html.escape(text or '', quote=True)
    return f"""
<div id="playground">
<p>Type the start of a name: the bars are the model's probabilities for the next character
(<code>{END_KEY}</code>: the name ends here), computed in this page from the checkpoint's own weights.</p>
<p><label for="prefix">prefix</label> <input id="prefix" type="text" value="{prefix}" autocomplete="off"
 spellcheck="false" maxlength="{config.block_size - 1}"> <span id="prefix-note" class="note"></span></p>
<div class="cols"><div><h3>Next character</h3><div id="bars"></div></div>
<div class="grow"><h3>Names it makes</h3>
<p><label for="temperature">temperature</label> <input id="temperature" type="range" min="0.1" max="2"
 step="0.05" value="{temperature:g}"> <output id="temperature-value">{temperature:g}</output>
 <button id="resample" type="button">sample again</button></p>
<p><label><input id="from-prefix" type="checkbox"> start each name with the prefix</label></p>
<p class="note">Low temperatures pick the likeliest characters; high ones take chances.</p><ol id="playground-samples" class="samples"></ol></div></div>
<h3>Attention on the prefix</h3>
<p>One heatmap per layer and head: row t is position t reading, the columns the positions it
reads (BOS first, none later than t); each row sums to 1. Hover a cell for its weight.</p>
<div id="heatmaps" class="cols"></div>
</div>
<script type="application/json" id="microgpt-model">{model_json(config, chars, state_dict)}</script>
<script>
{package_text("playground.js")}</script>
"""
