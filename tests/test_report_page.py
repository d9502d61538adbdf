"""The report's playground in a real browser: headless Chromium driven by Selenium types a
prefix into the page's box, and the probabilities the page computes from the checkpoint's
weights in JavaScript (and window.microgpt's attention) are the numpy engine's to 1e-9."""
import json
import shutil
from fnmatch import fnmatch

import numpy as np
import pytest
from click.testing import CliRunner

from microgpt.cli import main
from microgpt.files.checkpoint import load_checkpoint
from microgpt.gpt.engines.numpy_engine import NumpyEngine
from microgpt.viz import package_text, playground, text_tokens
from microgpt.viz.figures import attention_weights

from conftest import REPO

CHROMIUM = shutil.which('chromium') or shutil.which('chromium-browser')
CHROMEDRIVER = shutil.which('chromedriver')
# two layers of two heads, so every loop of the page's forward pass runs more than once
SMALL = ['--primordial', '--steps', '30', '--n-embd', '8', '--n-head', '2', '--n-layer', '2', '--ff-mult', '2',
         '--block-size', '8', '--samples', '0']


@pytest.fixture(scope='module')
def checkpoint_and_page(tmp_path_factory, names_docs):
    folder = tmp_path_factory.mktemp('report-page')
    data, ckpt, page = folder / 'names.txt', folder / 'small.ckpt.json', folder / 'report.html'
    data.write_text('\n'.join(names_docs[:500]) + '\n')
    for args in (['train', '--data', data, *SMALL, '--out', ckpt],
                 ['report', '--checkpoint', ckpt, '--text', 'emma', '--samples', 4, '--out', page]):
        result = CliRunner().invoke(main, [str(a) for a in args])
        assert result.exit_code == 0, result.output
    return load_checkpoint(ckpt), page


def numpy_probabilities(checkpoint, prefix):
    """{character or BOS: probability} of the next token after BOS + prefix, by the numpy engine."""
    engine = NumpyEngine(checkpoint.config, checkpoint.inference_state_dict)
    tokenizer, cache = checkpoint.tokenizer, engine.new_cache()
    for pos, token in enumerate([tokenizer.bos] + tokenizer.encode(prefix)):
        logits = np.array(engine.logits(token, pos, cache))
    exps = np.exp(logits - logits.max())
    probs = exps / exps.sum()
    return {playground.END_KEY if i == tokenizer.bos else tokenizer.chars[i]: float(p) for i, p in enumerate(probs)}


def test_the_page_embeds_the_weights_and_leaves_the_playground_out_of_a_big_model(checkpoint_and_page):
    checkpoint, page = checkpoint_and_page
    text = page.read_text()
    start = text.index('<script type="application/json" id="microgpt-model">') + len(
        '<script type="application/json" id="microgpt-model">')
    model = json.loads(text[start:text.index('</script>', start)])
    assert model['weights'] == checkpoint.inference_state_dict and model['end_key'] == 'BOS'
    assert model['chars'] == checkpoint.chars
    assert playground.fits_playground(checkpoint.config)
    big = checkpoint.config.__class__(**{**checkpoint.config.to_dict(), 'n_embd': 160, 'n_layer': 2})
    assert big.num_params() > playground.PLAYGROUND_PARAM_LIMIT and not playground.fits_playground(big)


def test_the_pages_script_and_stylesheet_are_files_shipped_with_the_package(checkpoint_and_page):
    _, page = checkpoint_and_page
    text = page.read_text()
    # pyproject.toml's package data (a TOML list of strings, which JSON reads too): an installed microgpt has them
    line = next(line for line in (REPO / 'pyproject.toml').read_text().splitlines() if line.startswith('microgpt = ['))
    shipped = json.loads(line.split('=', 1)[1])
    for name in ('playground.js', 'report.css'):
        assert package_text(name) in text  # the page holds the file whole
        assert any(fnmatch(f'viz/{name}', pattern) for pattern in shipped)


@pytest.fixture(scope='module')
def browser():
    webdriver = pytest.importorskip('selenium.webdriver', reason="Selenium is not installed (pip install selenium)")
    if CHROMIUM is None or CHROMEDRIVER is None:
        pytest.skip("Chromium or its driver is not installed (apt-get install chromium chromium-driver)")
    from selenium.webdriver.chrome.service import Service
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ('--headless', '--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage', '--no-first-run',
                 '--disable-background-networking', '--disable-component-update'):
        options.add_argument(flag)
    driver = webdriver.Chrome(options=options, service=Service(executable_path=CHROMEDRIVER))
    yield driver
    driver.quit()


def type_into(box, text):
    """Empty the box as a reader does (select all, delete), then type text, key by key."""
    from selenium.webdriver.common.keys import Keys
    box.send_keys(Keys.CONTROL, 'a')
    box.send_keys(Keys.BACKSPACE)
    if text:
        box.send_keys(text)


def bars(driver):
    return {bar.get_attribute('data-char'): float(bar.get_attribute('data-probability'))
            for bar in driver.find_elements('css selector', '#bars .bar')}


def test_typing_a_prefix_shows_the_numpy_engines_probabilities(checkpoint_and_page, browser):
    checkpoint, page = checkpoint_and_page
    browser.get(page.as_uri())
    box = browser.find_element('id', 'prefix')
    assert box.get_attribute('value') == 'emma'  # the --text, shown when the page opens
    assert bars(browser).keys() == numpy_probabilities(checkpoint, 'emma').keys()
    for prefix in ('', 'k', 'emm', 'zoey'):
        type_into(box, prefix)
        shown, expected = bars(browser), numpy_probabilities(checkpoint, prefix)
        assert len(shown) == checkpoint.config.vocab_size and sum(shown.values()) == pytest.approx(1.0, abs=1e-12)
        for label, probability in expected.items():
            assert shown[label] == pytest.approx(probability, abs=1e-9), (prefix, label)
        api = browser.execute_script('return window.microgpt.nextProbabilities(arguments[0])', prefix)
        assert api == shown
        tables = browser.find_elements('css selector', '#heatmaps table.attention')
        assert len(tables) == checkpoint.config.n_layer * checkpoint.config.n_head
        assert len(tables[0].find_elements('css selector', 'tr')) == 1 + 1 + len(prefix)  # keys, BOS, text

    for text in ('emma', 'a'):
        shown = np.array(browser.execute_script('return window.microgpt.attention(arguments[0])', text))
        expected = attention_weights(checkpoint, text_tokens(checkpoint, text))
        assert shown.shape == expected.shape
        np.testing.assert_allclose(shown, expected, rtol=0, atol=1e-9)


def test_the_playground_samples_and_refuses_what_the_model_cannot_read(checkpoint_and_page, browser):
    checkpoint, page = checkpoint_and_page
    browser.get(page.as_uri())
    box = browser.find_element('id', 'prefix')
    type_into(box, 'em9')
    note = browser.find_element('id', 'prefix-note').text
    assert 'the model does not know the character "9"' in note
    names = browser.execute_script('return [0.3, 1.0, 1.8].map(t => window.microgpt.sample(t, "em"))')
    block = checkpoint.config.block_size
    assert all(name.startswith('em') and len(name) <= block - 1 and set(name) <= set(checkpoint.chars)
               for name in names)
    shown = [li.text for li in browser.find_elements('css selector', '#playground-samples li')]
    assert len(shown) == 10 and all(set(name) <= set(checkpoint.chars) for name in shown)
    logs = [entry for entry in browser.get_log('browser') if entry['level'] == 'SEVERE']
    assert logs == []


def test_past_the_limit_the_page_leaves_the_playground_out_and_says_why(checkpoint_and_page, tmp_path, monkeypatch):
    from microgpt.viz import report
    checkpoint, page = checkpoint_and_page
    monkeypatch.setattr(playground, 'PLAYGROUND_PARAM_LIMIT', 100)
    monkeypatch.setattr(report, 'PLAYGROUND_PARAM_LIMIT', 100)
    html = report.build_report(checkpoint, 'small.ckpt.json', 'emma', num_samples=2)
    assert 'id="microgpt-model"' not in html and 'window.microgpt' not in html
    assert f'This model has {checkpoint.config.num_params():,} parameters' in html
    assert 'leaves the playground out past 100.' in html
