"""Layer 2, text: normalising and repairing a user's text, with offsets back into it;
sentences, chunks, lemmas and keywords; the Swedish lexicon behind the PDF repair.
"""

from goalmatch.text.lemmas import keywords
from goalmatch.text.prepare import Passage, PreparedText, chunk, prepare, sentences

__all__ = ["Passage", "PreparedText", "chunk", "keywords", "prepare", "sentences"]
