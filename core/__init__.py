"""Pure, Django-free building blocks shared by every app (see core/vocabulary.py)."""
