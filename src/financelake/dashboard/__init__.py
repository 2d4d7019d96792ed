"""The live web dashboard: a Streamlit page over the Delta tables (no Spark needed to look).

`launch.serve` starts it; `app.py` is the Streamlit script; `data.py` holds its pure loaders
and Plotly figure builders.
"""
