/* The chain-rule explorer's script (inlined into the page by tapegrad).
 * It reads the JSON trace tapegrad embedded (id "trace-data": the engine's
 * own sweep; nothing here recomputes a derivative) and shows it: the graph
 * (Graphviz's SVG, else a layered layout drawn here), the nodes' values, a
 * step control (buttons and arrow keys) over the backward pass, and the
 * inputs' final gradients. Elements a test reads: #step-grad (the current
 * step's gradient, data-node and data-value), #grads td.grad (id
 * "grad-NAME", data-input, data-value), #step-index. */
'use strict';
(function () {
  const D = JSON.parse(document.getElementById('trace-data').textContent);
  const byId = {};
  D.nodes.forEach(function (n) { byId[n.id] = n; });
  const steps = D.steps;
  const SVGNS = 'http://www.w3.org/2000/svg';

  function el(tag, attrs, children) {
    const e = document.createElement(tag);
    for (const k in attrs || {}) e.setAttribute(k, attrs[k]);
    (children || []).forEach(function (c) {
      e.appendChild(typeof c === 'string' ? document.createTextNode(c) : c);
    });
    return e;
  }
  /* Numbers: 6 significant digits on screen; NaN and infinities arrive as strings. */
  function fmt(v) {
    if (typeof v !== 'number') return String(v);
    return String(Number(v.toPrecision(6)));
  }
  function isTensor(v) { return v !== null && typeof v === 'object'; }
  /* A value as text or as a small table (a tensor's rows by its last axis). */
  function valueNode(v) {
    if (v === null || v === undefined) return document.createTextNode('-');
    if (!isTensor(v)) return document.createTextNode(fmt(v));
    const wrap = el('span', {class: 'tensor-wrap'});
    const cols = v.shape.length ? v.shape[v.shape.length - 1] : 1;
    const t = el('table', {class: 'tensor', 'data-shape': v.shape.join(',')});
    for (let i = 0; i < v.data.length; i += Math.max(cols, 1)) {
      const tr = el('tr');
      v.data.slice(i, i + Math.max(cols, 1)).forEach(function (x) {
        tr.appendChild(el('td', {'data-value': String(x)}, [fmt(x)]));
      });
      t.appendChild(tr);
    }
    wrap.appendChild(t);
    wrap.appendChild(el('span', {class: 'shape'}, [' [' + v.shape.join(', ') + ']' + (v.truncated ? ' (first ' + v.data.length + ' shown)' : '')]));
    return wrap;
  }
  function name(id) { const n = byId[id]; return n ? n.label : id; }
  function paren(s) { return /[ +\-*\/^]/.test(s) ? '(' + s + ')' : s; }
  function partial(of, by) { return '\u2202' + paren(of) + '/\u2202' + paren(by); }

  /* ---------------------------------------------------------------- graph */
  const graph = document.getElementById('graph');
  function layered() {
    /* Columns by depth (longest path from an input), rows in tape order. */
    const depth = {};
    D.nodes.forEach(function (n) {
      depth[n.id] = n.inputs.reduce(function (m, i) { return Math.max(m, (depth[i] || 0) + 1); }, 0);
    });
    const rows = {}, pos = {};
    const W = 170, H = 52, GX = 60, GY = 18;
    D.nodes.forEach(function (n) {
      const d = depth[n.id], r = rows[d] || 0;
      rows[d] = r + 1;
      pos[n.id] = {x: 10 + d * (W + GX), y: 10 + r * (H + GY)};
    });
    const maxd = Math.max.apply(null, Object.keys(rows).map(Number));
    const maxr = Math.max.apply(null, Object.values(rows));
    const svg = document.createElementNS(SVGNS, 'svg');
    const width = 20 + (maxd + 1) * (W + GX), height = 20 + maxr * (H + GY);
    svg.setAttribute('viewBox', '0 0 ' + width + ' ' + height);
    svg.setAttribute('width', width);
    svg.setAttribute('height', height);
    const defs = document.createElementNS(SVGNS, 'defs');
    defs.innerHTML = '<marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" markerHeight="7" orient="auto"><path d="M0,0 L10,5 L0,10 z" fill="#556"/></marker>';
    svg.appendChild(defs);
    D.nodes.forEach(function (n) {
      n.inputs.forEach(function (i, k) {
        const a = pos[i], b = pos[n.id];
        const line = document.createElementNS(SVGNS, 'line');
        line.setAttribute('x1', a.x + W); line.setAttribute('y1', a.y + H / 2);
        line.setAttribute('x2', b.x); line.setAttribute('y2', b.y + H / 2 + (n.inputs.length > 1 ? (k - 0.5) * 12 : 0));
        line.setAttribute('stroke', '#556'); line.setAttribute('marker-end', 'url(#arrow)');
        svg.appendChild(line);
      });
    });
    D.nodes.forEach(function (n) {
      const g = document.createElementNS(SVGNS, 'g');
      g.setAttribute('id', n.id);
      g.setAttribute('class', 'node');
      const p = pos[n.id];
      const r = document.createElementNS(SVGNS, 'rect');
      r.setAttribute('x', p.x); r.setAttribute('y', p.y); r.setAttribute('width', W); r.setAttribute('height', H);
      r.setAttribute('rx', 5); r.setAttribute('fill', '#fff'); r.setAttribute('stroke', n.output ? '#000' : '#778');
      r.setAttribute('stroke-width', n.output ? 2 : 1);
      g.appendChild(r);
      const head = n.kind === 'op' && n.text !== n.label && !/^n\d+$/.test(n.label) ? n.label + ' = ' + n.text
                 : (n.kind === 'op' ? n.text : n.label + ' (' + n.kind + ')');
      const lines = [head, 'value ' + (isTensor(n.value) ? '[' + n.value.shape.join(', ') + ']' : fmt(n.value))];
      lines.forEach(function (s, k) {
        const t = document.createElementNS(SVGNS, 'text');
        t.setAttribute('x', p.x + 8); t.setAttribute('y', p.y + 20 + k * 18);
        t.setAttribute('font-family', 'monospace'); t.setAttribute('font-size', 13);
        t.textContent = s.length > 22 ? s.slice(0, 21) + '\u2026' : s;
        g.appendChild(t);
      });
      svg.appendChild(g);
    });
    graph.appendChild(svg);
  }
  if (!graph.querySelector('svg')) layered();
  function mark(id, cls, on) {
    const g = graph.querySelector('g#' + id);
    if (g) g.classList.toggle(cls, on);
  }

  /* --------------------------------------------------------------- panels */
  const controls = el('div', {id: 'controls'});
  const prev = el('button', {id: 'prev', type: 'button'}, ['\u25c0 Prev']);
  const next = el('button', {id: 'next', type: 'button'}, ['Next \u25b6']);
  const label = el('span', {id: 'step-index', 'data-index': '0'});
  controls.appendChild(prev); controls.appendChild(label); controls.appendChild(next);
  controls.appendChild(el('span', {class: 'hint'}, ['(or the \u2190 \u2192 arrow keys)']));
  const stepBox = el('div', {id: 'step'});
  graph.after(controls);
  controls.after(stepBox);

  /* Forward values. */
  const nodes = el('table', {id: 'nodes', class: 'data'});
  nodes.appendChild(el('tr', {}, [el('th', {}, ['node']), el('th', {}, ['name']), el('th', {}, ['op']), el('th', {}, ['value']), el('th', {}, ['gradient'])]));
  D.nodes.forEach(function (n) {
    nodes.appendChild(el('tr', {id: 'row-' + n.id}, [el('td', {class: 'mono'}, [n.id]), el('td', {class: 'mono'}, [/^n\d+$/.test(n.label) ? '' : n.label]),
      el('td', {class: 'mono'}, [n.kind === 'op' ? n.text : n.kind]), el('td', {class: 'num', 'data-value': isTensor(n.value) ? '' : String(n.value)}, [valueNode(n.value)]),
      el('td', {class: 'num'}, [valueNode(n.grad)])]));
  });
  /* The inputs' final gradients. */
  const grads = el('table', {id: 'grads', class: 'data'});
  grads.appendChild(el('tr', {}, [el('th', {}, ['input']), el('th', {}, ['gradient \u2202' + paren(D.output_label) + '/\u2202input'])]));
  D.nodes.filter(function (n) { return n.leaf; }).forEach(function (n) {
    const td = el('td', {class: 'grad num', id: 'grad-' + n.label, 'data-input': n.label, 'data-value': isTensor(n.grad) ? JSON.stringify(n.grad.data) : String(n.grad)},
                  [isTensor(n.grad) ? valueNode(n.grad) : String(n.grad)]);
    grads.appendChild(el('tr', {}, [el('td', {class: 'mono'}, [n.label]), td]));
  });
  stepBox.after(el('h2', {}, ['Gradients of the inputs']), grads, el('h2', {}, ['Every node (forward values; gradients after the backward pass)']), nodes);

  /* ---------------------------------------------------------------- steps */
  /* The share `from` passed to `to` through `operand` (tensor terms). */
  function shareOf(from, to, operand) {
    for (const s of steps)
      if (s.node === from && s.passes)
        for (const p of s.passes) if (p.to === to && p.operand === operand) return p.value;
    return null;
  }
  function render(i) {
    label.textContent = i < 0 ? 'Forward pass (' + steps.length + ' steps to go)' : 'Step ' + (i + 1) + ' of ' + steps.length;
    label.setAttribute('data-index', String(i + 1));
    prev.disabled = i < 0;
    next.disabled = i >= steps.length - 1;
    D.nodes.forEach(function (n) { mark(n.id, 'current', false); mark(n.id, 'done', false); mark(n.id, 'receiving', false); });
    stepBox.innerHTML = '';
    if (i < 0) {
      stepBox.appendChild(el('div', {class: 'head'}, ['Forward pass done: ' + D.output_label + ' = ' + fmt(byId[D.output].value)]));
      stepBox.appendChild(el('div', {}, ['Press Next (or \u2192) to walk the backward pass from the seed ' + partial(D.output_label, D.output_label) + ' = 1, one node at a time.']));
      return;
    }
    for (let j = 0; j < i; j++) mark(steps[j].node, 'done', true);
    const s = steps[i], n = byId[s.node];
    mark(s.node, 'current', true);
    (s.passes || []).forEach(function (p) { mark(p.to, 'receiving', true); });
    stepBox.appendChild(el('div', {class: 'head'}, ['Step ' + (i + 1) + ': ' + s.head]));
    /* Upstream: the seed, one share, or the sum over several paths. */
    const lhs = partial(D.output_label, n.label);
    const gradSpan = el('span', {id: 'step-grad', 'data-node': s.node, 'data-value': isTensor(s.grad) ? JSON.stringify(s.grad.data) : String(s.grad)}, [valueNode(s.grad)]);
    const terms = s.terms.map(function (u) {
      return {v: u.value !== null ? u.value : shareOf(u.from, s.node, u.operand), from: name(u.from), operand: u.operand};
    });
    if (s.kept !== null) terms.unshift({v: s.kept, from: null});
    const what = s.leaf ? 'gradient ' : 'upstream ';
    if (s.seed) {
      stepBox.appendChild(el('div', {}, [what + lhs + ' = ', gradSpan, ' (the seed)']));
    } else if (terms.length > 1) {
      const box = el('div', {class: 'sum', 'data-paths': String(terms.length)});
      box.appendChild(el('span', {class: 'badge'}, ['\u03a3 sum over ' + terms.length + ' paths: ']));
      box.appendChild(document.createTextNode(what + lhs + ' = '));
      terms.forEach(function (u, k) {
        if (k) box.appendChild(document.createTextNode(' + '));
        box.appendChild(valueNode(u.v));
        box.appendChild(document.createTextNode(u.from === null ? ' (kept from earlier backward calls)' : ' (from ' + u.from + ')'));
      });
      box.appendChild(document.createTextNode(' = '));
      box.appendChild(gradSpan);
      stepBox.appendChild(box);
    } else {
      stepBox.appendChild(el('div', {}, [what + lhs + ' = ', gradSpan, terms.length ? ' (from ' + terms[0].from + ')' : '']));
    }
    if (s.leaf) {
      stepBox.appendChild(el('div', {}, [n.label + ' is an input: its gradient is final.']));
      return;
    }
    /* upstream × local = passed on, for each operand. */
    (s.passes || []).forEach(function (p, k) {
      const loc = (s.local || [])[k] || {};
      const row = el('div', {class: 'share', 'data-to': p.to});
      row.appendChild(el('div', {class: 'formula mono'}, ['local  ' + (loc.formula || '')]));
      const line = el('div', {class: 'mono'});
      line.appendChild(document.createTextNode('to ' + name(p.to) + ':  '));
      if (!isTensor(s.grad) && loc.value !== null && loc.value !== undefined) {
        line.appendChild(document.createTextNode('upstream \u00d7 local = ' + fmt(s.grad) + ' \u00d7 ' + fmt(loc.value) + ' = '));
      } else {
        line.appendChild(document.createTextNode('passed on = '));
      }
      line.appendChild(el('span', {class: 'passed', 'data-value': isTensor(p.value) ? JSON.stringify(p.value.data) : String(p.value)}, [valueNode(p.value)]));
      row.appendChild(line);
      stepBox.appendChild(row);
    });
  }
  let cur = -1;
  function go(d) {
    const i = Math.max(-1, Math.min(steps.length - 1, cur + d));
    if (i !== cur) { cur = i; render(cur); }
  }
  prev.addEventListener('click', function () { go(-1); });
  next.addEventListener('click', function () { go(1); });
  document.addEventListener('keydown', function (e) {
    if (e.key === 'ArrowRight' || e.key === 'ArrowDown') { go(1); e.preventDefault(); }
    else if (e.key === 'ArrowLeft' || e.key === 'ArrowUp') { go(-1); e.preventDefault(); }
  });
  render(cur);
})();
