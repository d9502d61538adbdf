(function () {
  'use strict';
  const model = JSON.parse(document.getElementById('microgpt-model').textContent);
  const W = model.weights, chars = model.chars, BOS = chars.length;
  const nEmbd = model.n_embd, nHead = model.n_head, headDim = nEmbd / nHead;
  const RMSNORM_EPS = 1e-5;

  function matvec(w, x) {  // w: rows of weights (out x in), as Val.matvec and numpy compute it
    return w.map(row => { let s = 0; for (let j = 0; j < x.length; j++) s += row[j] * x[j]; return s; });
  }
  function rmsnorm(x) {
    let ms = 0;
    for (const v of x) ms += v * v;
    const scale = Math.pow(ms / x.length + RMSNORM_EPS, -0.5);
    return x.map(v => v * scale);
  }
  function softmax(xs) {
    const top = Math.max(...xs), exps = xs.map(v => Math.exp(v - top));
    let total = 0;
    for (const e of exps) total += e;
    return exps.map(e => e / total);
  }
  function encode(text) {
    const tokens = [];
    for (const ch of text) {
      const id = chars.indexOf(ch);
      if (id < 0) throw new Error(`the model does not know the character ${JSON.stringify(ch)} (it knows ${JSON.stringify(chars.join(''))})`);
      tokens.push(id);
    }
    if (tokens.length > model.block_size - 1)
      throw new Error(`${tokens.length} characters: the model's context holds at most ${model.block_size - 1} after BOS`);
    return tokens;
  }

  // BOS and the text's tokens, all positions at once: the logits at each position and
  // every head's attention (per layer, per head, rows of T weights, zero past the diagonal).
  function forward(text) {
    const tokens = [BOS, ...encode(text)], T = tokens.length;
    let xs = tokens.map((tok, pos) => rmsnorm(W.wte[tok].map((v, i) => v + W.wpe[pos][i])));
    const attention = [];
    for (let li = 0; li < model.n_layer; li++) {
      const L = name => W[`layer${li}.${name}`];
      const normed = xs.map(rmsnorm);
      const q = normed.map(x => matvec(L('attn_wq'), x));
      const k = normed.map(x => matvec(L('attn_wk'), x));
      const v = normed.map(x => matvec(L('attn_wv'), x));
      const heads = [];
      const mixed = xs.map(() => new Array(nEmbd).fill(0));
      for (let h = 0; h < nHead; h++) {
        const lo = h * headDim, rows = [];
        for (let t = 0; t < T; t++) {
          const scores = [];
          for (let s = 0; s <= t; s++) {
            let dot = 0;
            for (let j = lo; j < lo + headDim; j++) dot += q[t][j] * k[s][j];
            scores.push(dot / Math.sqrt(headDim));
          }
          const weights = softmax(scores);
          for (let j = lo; j < lo + headDim; j++) {
            let sum = 0;
            for (let s = 0; s <= t; s++) sum += weights[s] * v[s][j];
            mixed[t][j] = sum;
          }
          rows.push(weights.concat(new Array(T - 1 - t).fill(0)));
        }
        heads.push(rows);
      }
      attention.push(heads);
      xs = xs.map((x, t) => matvec(L('attn_wo'), mixed[t]).map((a, i) => a + x[i]));
      xs = xs.map(x => {
        const hidden = matvec(L('mlp_fc1'), rmsnorm(x)).map(a => Math.max(a, 0));
        return matvec(L('mlp_fc2'), hidden).map((a, i) => a + x[i]);
      });
    }
    return {tokens, logits: xs.map(x => matvec(W.lm_head, x)), attention};
  }

  function labelOf(id) { return id === BOS ? model.end_key : chars[id]; }
  function nextProbabilities(prefix, temperature) {
    const t = temperature === undefined ? 1 : temperature;
    const logits = forward(prefix).logits.at(-1);
    const probs = softmax(logits.map(l => l / t));
    const out = {};
    probs.forEach((p, id) => { out[labelOf(id)] = p; });
    return out;
  }
  function sample(temperature, prefix, random) {
    let text = prefix || '';
    const draw = random || Math.random;
    while (text.length < model.block_size - 1) {
      const probs = softmax(forward(text).logits.at(-1).map(l => l / temperature));
      let r = draw(), id = 0;
      while (id < probs.length - 1 && r >= probs[id]) { r -= probs[id]; id++; }
      if (id === BOS) break;
      text += chars[id];
    }
    return text;
  }
  window.microgpt = {
    chars, endKey: model.end_key, config: {n_layer: model.n_layer, n_head: model.n_head,
    n_embd: model.n_embd, block_size: model.block_size},
    forward, nextProbabilities, sample,
    logits: prefix => forward(prefix).logits.at(-1),
    attention: text => forward(text).attention,
  };

  // --- the page ---
  const $ = id => document.getElementById(id);
  const box = $('prefix'), slider = $('temperature');
  function el(tag, attrs, text) {
    const e = document.createElement(tag);
    Object.entries(attrs || {}).forEach(([k, v]) => e.setAttribute(k, v));
    if (text !== undefined) e.textContent = text;
    return e;
  }
  function showBars(probs) {
    const bars = $('bars');
    bars.replaceChildren();
    const sorted = Object.entries(probs).sort((a, b) => b[1] - a[1]), top = sorted[0][1];
    sorted.forEach(([label, p]) => {  // the likeliest's bar is 13em long
      const row = el('div', {class: 'bar', 'data-char': label, 'data-probability': String(p)});
      row.append(el('span', {class: 'bar-label'}, label),
                 el('span', {class: 'bar-fill', style: `width: ${(13 * p / top).toFixed(3)}em`}),
                 el('span', {class: 'bar-value'}, (p * 100).toFixed(1) + '%'));
      bars.append(row);
    });
  }
  function colour(w) {  // white to dark blue
    const r = Math.round(255 - 225 * w), g = Math.round(255 - 190 * w), b = Math.round(255 - 95 * w);
    return `rgb(${r},${g},${b})`;
  }
  function showHeatmaps(text, attention) {
    const labels = ['BOS', ...text];
    const maps = $('heatmaps');
    maps.replaceChildren();
    attention.forEach((heads, li) => heads.forEach((rows, h) => {
      const figure = el('figure', {class: 'heatmap'});
      figure.append(el('figcaption', {}, `layer ${li} head ${h}`));
      const table = el('table', {class: 'attention', 'data-layer': li, 'data-head': h});
      const head = el('tr');
      head.append(el('th'));
      labels.forEach(l => head.append(el('th', {class: 'key'}, l)));
      table.append(head);
      rows.forEach((row, t) => {
        const tr = el('tr');
        tr.append(el('th', {class: 'query'}, labels[t]));
        row.forEach((w, s) => {
          const td = el('td', s <= t ? {style: `background: ${colour(w)}`, title: `${labels[t]} reads ${labels[s]}: ${w.toFixed(3)}`}
                                      : {class: 'later'});
          tr.append(td);
        });
        table.append(tr);
      });
      figure.append(table);
      maps.append(figure);
    }));
  }
  function showSamples() {
    const list = $('playground-samples');
    list.replaceChildren();
    let prefix = $('from-prefix').checked ? box.value : '';
    try { encode(prefix); } catch (e) { prefix = ''; }
    const temperature = Number(slider.value);
    for (let i = 0; i < 10; i++) list.append(el('li', {}, sample(temperature, prefix)));
  }
  function update() {
    const text = box.value;
    try {
      const probs = nextProbabilities(text);
      $('prefix-note').textContent = '';
      showBars(probs);
      showHeatmaps(text, forward(text).attention);
    } catch (e) {
      $('prefix-note').textContent = e.message;
    }
    showSamples();
  }
  box.addEventListener('input', update);
  slider.addEventListener('input', () => { $('temperature-value').textContent = slider.value; showSamples(); });
  $('resample').addEventListener('click', showSamples);
  $('from-prefix').addEventListener('change', showSamples);
  update();
})();
