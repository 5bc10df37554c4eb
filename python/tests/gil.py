"""A check that an estimator's fit releases the GIL, shared by the tests."""
import threading
import time

import numpy as np


def assert_fit_releases_the_gil(make, X, min_seconds=0.3):
    """Fits ``make(n_iter)`` on X in another thread while this thread counts
    ticks; with the GIL held through the fit this thread would stop for the
    whole fit. ``n_iter`` is first grown until one fit takes ``min_seconds``
    (timed here, alone), so the check means the same on a fast or a slow or
    a loaded machine: the longest pause of this thread must stay under a
    quarter of the fit."""
    n_iter = 1
    while True:
        t = time.perf_counter()
        make(n_iter).fit(X)
        alone = time.perf_counter() - t
        if alone >= min_seconds or n_iter >= 4096:
            break
        n_iter *= max(2, int(np.ceil(min_seconds / max(alone, 1e-3))))
    assert alone >= min_seconds, (n_iter, alone)
    m = make(n_iter)
    done = threading.Event()
    worker = threading.Thread(target=lambda: (m.fit(X), done.set()))
    ticks = []
    start = time.perf_counter()
    worker.start()
    while not done.is_set():
        ticks.append(time.perf_counter())
    worker.join()
    took = time.perf_counter() - start
    gaps = np.diff([start] + ticks)
    assert gaps.max() < 0.25 * took, (gaps.max(), took, n_iter)
