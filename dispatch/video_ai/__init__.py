"""Video AI (算法模型, issue 19 §4): the detection kinds as data (``kinds.yaml``, checked by ``kinds``), the
detections service with its minimum confidence and debounce (``detections``), and camera snapshots attached
to incidents and emergency events (``snapshots``)."""
