"""``python -m native.playground``: the chapter's network in the browser.

Three views on one local page: exercise 3 step by step (computed by ``pure``), a
digit drawn by hand through ``native``'s forward and backward pass, and live
training on MNIST through the trainer's own code. The server (``server.py``)
computes every number; the page (index.html, app.js, i18n.js, app.css, served under /static/) only draws them.
"""
