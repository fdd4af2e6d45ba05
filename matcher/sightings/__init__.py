"""Sightings: sweep footage or field photos for missing children (docs/sightings.md).

A sweep searches every face track of a video (or every face of a photo) against the open
reports and/or the registered children with the ranking used everywhere else; a track
whose best match passes the queue rule becomes a **sighting** of that record, a lead of
its own kind for reviewers. Nothing else from the sweep is stored: bystanders are never
enrolled.

* ``probes``: a file -> tracks / faces in memory;
* ``sweep``: search, the queue rule, which tracks become sightings (reads only);
* ``store``: writing sightings, releasing a rejected one's crops and source;
* ``decisions``: the review state machine on sightings;
* ``service``: the use case (``Services.sightings``); ``jobs``: the ``sweep`` job kind.
"""
