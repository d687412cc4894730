"""pocusiq.pair: turn acquisition sessions into registered POCUS / high-end pairs.

Modules (import them directly; this package imports nothing heavy):

* the imaging region of a frame comes from :func:`pocusiq.imaging.region.find_imaging_region`;
* :mod:`~pocusiq.pair.geometry` -- pixel <-> world (mm) affine maps, nominal probe placement;
* :mod:`~pocusiq.pair.resample` -- spacing conversion, affine resampling, masked smoothing;
* :mod:`~pocusiq.pair.register` -- SimpleITK rigid (+ affine) registration in mm;
* :mod:`~pocusiq.pair.quality` -- pair quality (NCC / NMI of smoothed images);
* :mod:`~pocusiq.pair.tre` -- target registration error against simulator truth;
* :mod:`~pocusiq.pair.frames` -- :func:`pair_frames`: one pose, end to end;
* :mod:`~pocusiq.pair.session` -- :func:`pair_session`: a whole session -> dataset + report;
* :mod:`~pocusiq.pair.command` -- ``pocusiq pair``.
"""
