"""Training jobs as processes (issue 20): a spec, a persistent queue, worker processes.

A job is a :class:`~core.jobs.spec.JobSpec` (JSON: the data, preprocessing, model and
training settings, seed and owner). :class:`~core.jobs.queue.JobQueue` keeps the queue in an
SQLite file under the runs directory (``.jobs.sqlite``); ``python -m core worker``
(:func:`~core.jobs.worker.serve`) claims jobs one at a time and trains each into its run
folder, writing progress (``progress.json``), checkpoints and the finished run there. The app,
the CLI (``python -m core jobs submit|list|cancel``) and a headless GPU server all go through
the same queue, so a job outlives the browser tab and the Streamlit server.
"""
