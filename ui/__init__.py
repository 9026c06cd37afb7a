"""Streamlit-side helpers shared by the pages (session state, downloads, messages).

Only this package and ``app_pages/``/``app.py`` import streamlit; ``core/`` never does.
"""
