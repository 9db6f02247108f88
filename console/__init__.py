"""The researcher's console: studies, their progress, results and downloads, generation jobs.

The top layer of the apps (over analysis, annotation and generation); `evalsite` keeps only
the project's configuration.
"""
