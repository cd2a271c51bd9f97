#!/usr/bin/env python3
"""The chain-rule explorer (tapegrad grad --html) in a real browser.

usage: test_explorer.py TAPEGRAD OUTDIR [--docs PNG]

For each program: writes the page, loads it in headless Chromium through
chromedriver (the WebDriver protocol over HTTP, standard library only),
steps through every node of the backward pass with the arrow keys and the
Next button (and back with Prev and the left arrow), checks each step's
displayed gradient and the final gradient table against `tapegrad grad
--json`, checks that a node fed by several paths shows the sum, and saves
a screenshot (OUTDIR/explorer.png; with --docs also that PNG, for the
README). Where Chromium or chromedriver is missing or cannot start, prints
SKIP and exits 77 (meson's skip code): never a silent pass.
"""
import base64
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

# Debian's paths; the environment may name others (and the skip is tested so)
CHROMIUM = os.environ.get('CHROMIUM', '/usr/bin/chromium')
CHROMEDRIVER = os.environ.get('CHROMEDRIVER', '/usr/bin/chromedriver')
ELEMENT = 'element-6066-11e4-a52e-4f735466cecf'
ARROW_RIGHT, ARROW_LEFT = '\ue014', '\ue012'

# micrograd's README style: several paths into a and b (a*b, b^3, a + b)
SCALAR = ('c = a + b; d = a*b + b^3; f = c - d; g = f^2; g/2', ['a=-4', 'b=2'])
NEURON = ('o = tanh(w1*x1 + w2*x2 + b); (o - y)^2',
          ['w1=-3', 'x1=2', 'w2=1', 'x2=0', 'b=6.8813735870195432', 'y=0.5'])
# a tensor program, when the language has tensor values
TENSOR = ('sum((W @ x - y)^2)', ['W=[[0.1, 0.2], [0.3, 0.4]]', 'x=[1, 2]', 'y=[0.5, -1]'])


def skip(why):
    print('SKIP: ' + why)
    sys.exit(77)


def fail(why):
    print('FAIL: ' + why)
    sys.exit(1)


class Driver:
    """A minimal WebDriver client: one session of chromedriver."""

    def __init__(self, port):
        self.base = 'http://127.0.0.1:%d' % port
        self.sid = None

    def call(self, method, path, body=None):
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.base + path, data=data, method=method,
                                     headers={'Content-Type': 'application/json'})
        try:
            with urllib.request.urlopen(req, timeout=60) as r:
                return json.loads(r.read().decode())['value']
        except urllib.error.HTTPError as e:
            raise RuntimeError('%s %s: %s' % (method, path, e.read().decode()[:500]))

    def s(self, method, path, body=None):
        return self.call(method, '/session/%s%s' % (self.sid, path), body)

    def find(self, css):
        return self.s('POST', '/element', {'using': 'css selector', 'value': css})[ELEMENT]

    def find_all(self, css):
        return [e[ELEMENT] for e in self.s('POST', '/elements', {'using': 'css selector', 'value': css})]

    def attr(self, el, name):
        return self.s('GET', '/element/%s/attribute/%s' % (el, name))

    def text(self, el):
        return self.s('GET', '/element/%s/text' % el)

    def click(self, el):
        self.s('POST', '/element/%s/click' % el, {})

    def key(self, k):
        self.s('POST', '/actions', {'actions': [{'type': 'key', 'id': 'kb', 'actions': [
            {'type': 'keyDown', 'value': k}, {'type': 'keyUp', 'value': k}]}]})
        self.s('DELETE', '/actions')


def free_port():
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def start_browser():
    for path in (CHROMIUM, CHROMEDRIVER):
        if not os.access(path, os.X_OK):
            skip('%s is not installed (Debian: apt-get install chromium chromium-driver)' % path)
    port = free_port()
    proc = subprocess.Popen([CHROMEDRIVER, '--port=%d' % port], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    d = Driver(port)
    for _ in range(100):
        try:
            if d.call('GET', '/status').get('ready'):
                break
        except (OSError, RuntimeError):
            pass
        time.sleep(0.1)
    else:
        proc.terminate()
        skip('chromedriver did not start')
    caps = {'capabilities': {'alwaysMatch': {'browserName': 'chrome', 'goog:chromeOptions': {
        'binary': CHROMIUM,
        'args': ['--headless=new', '--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage',
                 '--window-size=1200,1100', '--user-data-dir=' + tempfile.mkdtemp(prefix='tg-chrome-')]}}}}
    try:
        d.sid = d.call('POST', '/session', caps)['sessionId']
    except (OSError, RuntimeError) as e:
        proc.terminate()
        skip('Chromium cannot start: %s' % e)
    return d, proc


def tapegrad(exe, prog, values, *extra, env=None):
    return subprocess.run([exe, 'grad', prog] + values + list(extra), capture_output=True, text=True, env=env)


def flat(v):
    if isinstance(v, list):
        return [x for e in v for x in flat(e)]
    if isinstance(v, dict):
        return flat(v.get('data', []))
    return [float(v)]


def close(a, b):
    return all(abs(x - y) <= 1e-12 * max(1.0, abs(y)) for x, y in zip(a, b)) and len(a) == len(b)


def check_page(d, exe, outdir, tag, prog, values, shot=None, no_dot=False):
    js = tapegrad(exe, prog, values, '--json')
    if js.returncode != 0:
        fail('%s: tapegrad --json failed: %s' % (tag, js.stderr))
    engine = json.loads(js.stdout)['grad']
    page = os.path.join(outdir, 'explorer_%s.html' % tag)
    # without Graphviz on the PATH the page lays the graph out itself
    env = dict(os.environ, PATH=tempfile.mkdtemp(prefix='tg-nodot-')) if no_dot else None
    r = tapegrad(os.path.abspath(exe), prog, values, '--html', page, env=env)
    if r.returncode != 0:
        fail('%s: --html failed: %s' % (tag, r.stderr))
    html = open(page, encoding='utf-8').read()
    # self-contained: no script, style sheet or font fetched (the only URLs
    # are XML namespace names, which are never fetched)
    for bad in ('<script src', '<link', '@import', 'url(http', 'https://'):
        if bad in html:
            fail('%s: the page is not self-contained (%s)' % (tag, bad))
    d.s('POST', '/url', {'url': 'file://' + os.path.abspath(page)})
    nodes_with_grad = len(d.find_all('#nodes tr[id^="row-"]'))
    layout = d.attr(d.find('#graph'), 'data-layout')
    if layout != ('layered' if no_dot else 'graphviz') and not (layout == 'layered' and not have_dot()):
        fail('%s: graph laid out by %s' % (tag, layout))
    # the picture's boxes carry the trace's ids, in either layout
    if len(d.find_all('#graph g.node[id^="n"]')) != nodes_with_grad:
        fail('%s: the graph has %d boxes with ids for %d nodes' % (tag, len(d.find_all('#graph g.node')), nodes_with_grad))
    # tensors are shown as small tables (W's 2x2 value in the node table)
    if tag == 'tensor' and not d.find_all('#nodes table.tensor[data-shape="2,2"]'):
        fail('%s: no 2x2 table for W in the node table' % tag)
    idx = d.find('#step-index')
    nxt = d.find('#next')
    if d.attr(idx, 'data-index') != '0':
        fail('%s: the page does not open before the first step' % tag)
    seen, sums, i = {}, 0, 0
    shot_taken = False
    while d.attr(nxt, 'disabled') is None:
        # alternate the keyboard and the button
        if i % 2 == 0:
            d.key(ARROW_RIGHT)
        else:
            d.click(nxt)
        i += 1
        if d.attr(idx, 'data-index') != str(i):
            fail('%s: step %d: the index shows %s' % (tag, i, d.attr(idx, 'data-index')))
        g = d.find('#step-grad')
        node = d.attr(g, 'data-node')
        seen[node] = json.loads(d.attr(g, 'data-value')) if d.attr(g, 'data-value').startswith('[') \
            else float(d.attr(g, 'data-value'))
        boxes = d.find_all('#step .sum')
        if boxes:
            sums += 1
            if shot and not shot_taken:
                png = base64.b64decode(d.s('GET', '/screenshot'))
                for p in shot:
                    with open(p, 'wb') as f:
                        f.write(png)
                shot_taken = True
        if i > 10000:
            fail('%s: the Next button never disables' % tag)
    if i == 0:
        fail('%s: no steps' % tag)
    # back one with the button and one with the key, then forward again
    d.click(d.find('#prev'))
    d.key(ARROW_LEFT)
    if d.attr(idx, 'data-index') != str(i - 2):
        fail('%s: Prev and the left arrow do not step back (%s)' % (tag, d.attr(idx, 'data-index')))
    print('%s: %d steps walked (keys and buttons), %d showing a sum over paths, %d nodes' %
          (tag, i, sums, nodes_with_grad))
    # every input's gradient: as the step showed it and in the final table
    shown = {}
    for el in d.find_all('#grads td.grad'):
        name = d.attr(el, 'data-input')
        txt = d.text(el)
        shown[name] = flat(json.loads(d.attr(el, 'data-value'))) if d.attr(el, 'data-value').startswith('[') \
            else [float(txt)]
        if d.attr(el, 'id') != 'grad-' + name:
            fail('%s: gradient cell of %s has id %s' % (tag, name, d.attr(el, 'id')))
    for name, v in engine.items():
        if name not in shown:
            fail('%s: the page shows no gradient for %s' % (tag, name))
        if not close(shown[name], flat(v)):
            fail('%s: d/d%s: page %s, engine %s' % (tag, name, shown[name], v))
        print('  d/d%s: page %s = engine %s' % (name, shown[name], flat(v)))
    # each input's own step showed the same gradient
    checked = 0
    for row in d.find_all('#nodes tr[id]'):
        node = d.attr(row, 'id')[len('row-'):]
        cells = d.s('POST', '/element/%s/elements' % row, {'using': 'css selector', 'value': 'td'})
        name = d.text(cells[1][ELEMENT])
        if name in engine:
            if node not in seen:
                fail('%s: no step for the input %s (%s)' % (tag, name, node))
            if not close(flat(seen[node]), flat(engine[name])):
                fail('%s: step of %s showed %s, engine %s' % (tag, name, seen[node], engine[name]))
            checked += 1
    if checked != len(engine):
        fail('%s: %d of %d inputs found in the node table' % (tag, checked, len(engine)))
    return sums, seen, engine


def have_dot():
    return any(os.access(os.path.join(p, 'dot'), os.X_OK) for p in os.environ.get('PATH', '').split(':'))


def main():
    if len(sys.argv) < 3:
        print(__doc__)
        sys.exit(2)
    exe, outdir = sys.argv[1], sys.argv[2]
    docs = sys.argv[sys.argv.index('--docs') + 1] if '--docs' in sys.argv else None
    os.makedirs(outdir, exist_ok=True)
    d, proc = start_browser()
    try:
        shots = [os.path.join(outdir, 'explorer.png')] + ([docs] if docs else [])
        sums, seen, engine = check_page(d, exe, outdir, 'scalar', *SCALAR, shot=shots)
        if sums == 0:
            fail('scalar: no step showed the sum over paths (a and b each get several)')
        # the steps' own gradients for the leaves agree too (a step per input)
        if len(seen) < len(engine):
            fail('scalar: %d steps for %d inputs' % (len(seen), len(engine)))
        if not os.path.exists(shots[0]):
            fail('no screenshot')
        print('screenshot: ' + ', '.join(shots))
        probe = tapegrad(exe, TENSOR[0], TENSOR[1], '--json')
        if probe.returncode == 0:
            check_page(d, exe, outdir, 'tensor', *TENSOR)
        else:
            print('note: the language has no tensor values yet (%s); a second scalar program instead'
                  % probe.stderr.strip().splitlines()[0][:100])
            check_page(d, exe, outdir, 'neuron', *NEURON)
        check_page(d, exe, outdir, 'layered', *NEURON, no_dot=True)
    finally:
        try:
            d.s('DELETE', '')
        except (OSError, RuntimeError):
            pass
        proc.terminate()
        proc.wait(timeout=10)
    print('explorer: ok')


if __name__ == '__main__':
    main()
