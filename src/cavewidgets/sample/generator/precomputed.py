"""Write the image and supervoxel segmentation as neuroglancer precomputed, with cloud-volume.

Files are written uncompressed (``compress=False``) so the service can hand them out as they
are; the segmentation uses ``compressed_segmentation`` and the image ``jpeg``, both compact.
Two downsampled scales help neuroglancer when zoomed out.

Example::

    write_volume(path, img, (512, 512, 640), "image", chunk=(64, 64, 32))
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

# (x, y, z) factors of mips 1 and 2 relative to mip 0
MIP_FACTORS = [(2, 2, 1), (4, 4, 2)]


def _downsample(data: np.ndarray, f, layer_type: str) -> np.ndarray:
    if layer_type == "segmentation":
        return np.ascontiguousarray(data[:: f[0], :: f[1], :: f[2]])  # striding keeps ids exact
    s = [d // k * k for d, k in zip(data.shape, f)]
    d = data[: s[0], : s[1], : s[2]].astype(np.float32)
    d = d.reshape(s[0] // f[0], f[0], s[1] // f[1], f[1], s[2] // f[2], f[2]).mean(axis=(1, 3, 5))
    return np.round(d).astype(data.dtype)


def write_volume(path: Path, data: np.ndarray, resolution, layer_type: str, chunk) -> None:
    """Write ``data`` (x, y, z) at ``path`` as precomputed ``layer_type`` ('image' or 'segmentation')."""
    from cloudvolume import CloudVolume

    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    seg = layer_type == "segmentation"
    info = CloudVolume.create_new_info(
        num_channels=1, layer_type=layer_type, data_type=str(data.dtype),
        encoding="compressed_segmentation" if seg else "jpeg", resolution=list(resolution),
        voxel_offset=[0, 0, 0], volume_size=list(data.shape), chunk_size=list(chunk),
        compressed_segmentation_block_size=[8, 8, 8] if seg else None,
    )
    for f in MIP_FACTORS:
        res = [r * k for r, k in zip(resolution, f)]
        size = [int(np.ceil(s / k)) for s, k in zip(data.shape, f)]
        scale = dict(info["scales"][0])
        scale.update(key="_".join(str(int(r)) for r in res), resolution=res, size=size,
                     chunk_sizes=[list(chunk)], voxel_offset=[0, 0, 0])
        info["scales"].append(scale)
    info["scales"][0]["key"] = "_".join(str(int(r)) for r in resolution)
    url = path.resolve().as_uri()
    vol = CloudVolume(url, info=info, compress=False, progress=False, parallel=1)
    vol.commit_info()
    vol[:, :, :] = data
    for mip, f in enumerate(MIP_FACTORS, start=1):
        ds = _downsample(data, f, layer_type)
        size = info["scales"][mip]["size"]
        ds = ds[: size[0], : size[1], : size[2]]
        CloudVolume(url, mip=mip, compress=False, progress=False, parallel=1)[:, :, :] = ds
