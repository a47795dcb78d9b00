"""Closing the loop: reviews, backlog grooming, experiments, the launch and exit criteria.

Pure computations (review data, RICE, experiment statistics, the checklist, exit
criteria, DORA) and their renderers (Markdown, self-contained HTML).
"""
