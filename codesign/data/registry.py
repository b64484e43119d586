"""Registry of the external files we read (datasets and pre-trained models), each with its public source and sha256.

Files live under the data directory (``--data-dir`` or ``CODESIGN_DATA``, see :mod:`codesign.paths`), which holds
``data/`` and ``models/``. A registry name is the file's path below that top-level folder, e.g.
``hgcal/ttbar_0PU.csv`` (-> ``data/hgcal/ttbar_0PU.csv``) or ``econt_medium/8x8_c8_S2_tele_fqK_6bit.hdf5``
(-> ``models/econt_medium/...``).

:func:`fetch` never touches the network unless asked (``download=True``): runs must be reproducible offline, and a
silent download in the middle of a campaign would hide a misconfigured data directory.
"""

from __future__ import annotations

import difflib
import os
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from codesign.errors import CodesignError
from codesign.paths import ENV_VAR, data_dir as _resolve_data_dir

__all__ = ["Entry", "REGISTRY", "entry", "fetch", "names", "path_of"]


@dataclass(frozen=True)
class Entry:
    """One registered file. ``upstream_path`` is None for files we derived (no public copy to download)."""

    name: str
    path: PurePosixPath  # relative to the data directory
    sha256: str
    repo: str  # GitHub owner/name of the public source
    commit: str
    upstream_path: str | None = None
    note: str = ""

    @property
    def url(self) -> str | None:
        if self.upstream_path is None:
            return None
        return f"https://raw.githubusercontent.com/{self.repo}/{self.commit}/{self.upstream_path}"

    @property
    def source(self) -> str:
        where = f"{self.repo}@{self.commit[:12]}"
        return f"{where}:{self.upstream_path}" if self.upstream_path else f"{where} ({self.note})"


_ECODER = ("kakwok/Ecoder", "182d3a0d56ae7652cc448040b87a6177c8b1a1ab")
_SMART_PIXELS = ("elizahoward/smart-pixels-ml", "53540363b9d48f6752a24c4b94a828bb0ee1263e")
_EDGE_NNS = ("KastnerRG/edge-nns", "eebbe336f9a8d384a7ef37d54d4f9b4e028bfa39")


def _hgcal(file: str, sha256: str) -> Entry:
    # The CSVs sit at the repository root at that commit (later removed from the branch; identical copies exist in
    # cmantill/Ecoder and rohanshenoy/Ecoder-emd).
    return Entry(f"hgcal/{file}", PurePosixPath("data/hgcal", file), sha256, *_ECODER, upstream_path=file)


def _pixel(file: str, sha256: str) -> Entry:
    return Entry(f"smartpixel_muc/{file}", PurePosixPath("data/smartpixel_muc", file), sha256, *_SMART_PIXELS,
                 upstream_path=f"filtering_models/filtering_records/tfrecords_validation/{file}")


def _model(name: str, upstream_path: str, sha256: str) -> Entry:
    return Entry(name, PurePosixPath("models", name), sha256, *_EDGE_NNS, upstream_path=upstream_path)


_ENTRIES = [
    # sha256 from data/README.md (HGCAL, smart-pixel) and models/*/SOURCE.json (edge-nns models).
    _hgcal("CALQ_output.csv", "d1dfce6f237a2715c0f4702ee021116753e3b16fb4261166c44028748e216a68"),
    _hgcal("electron_pt20_eta15-30_0PU.csv", "1aad132ca1659a81a74d4eebf585603a89afef70f86d444bfc64aaa2d0646278"),
    _hgcal("jet_pt20_eta15-30_0PU.csv", "d06520f3f4e5d340bd142b3116d17bdc31c1244bfcf7cf2cf7ee26a71904aff9"),
    _hgcal("ttbar_0PU.csv", "b9394895d3578e46e38a849144dc1ce9ea3fe40a9984df475c2cce66bad4d57f"),
    # Written by the data curators from facts in edge-nns (networks.py) and fastml-science (utils/metrics.py): no
    # upstream file, so it cannot be downloaded; the hash pins the copy the EMD references were measured with.
    Entry("hgcal/geometry.json", PurePosixPath("data/hgcal/geometry.json"),
          "d55104469152ac75dbfd27494abbd1d3e7eec1f71e17fe739b47074727e0e9f2", *_EDGE_NNS,
          note="derived: arrange_8x8/arrmask_8x8 from hgcal_autoencoder/networks.py, hex_coords from "
               "fastmachinelearning/fastml-science sensor-data-compression/utils/metrics.py"),
    # Decoded from all 198 tfrecords_validation/batch_*.tfrecord files: derived, not downloadable as such.
    Entry("smartpixel_muc/muc_bib_filter_validation.npz",
          PurePosixPath("data/smartpixel_muc/muc_bib_filter_validation.npz"),
          "e270b607fcc535aa735981a3c530d0c41515756b5a30468ff709c16ed1bd730b", *_SMART_PIXELS,
          note="derived: decode of filtering_models/filtering_records/tfrecords_validation/batch_*.tfrecord"),
    _pixel("batch_0.tfrecord", "65ef2f186a8890a6fb620f1bc97d49628ecf66425e2c1cff64db5fce035dd048"),
    _pixel("batch_1.tfrecord", "157e653fe80820bbd5b2e7eadb5863a476e63898a66627220e4b245a12f878d8"),
    _model("cifar10_baseline/baseline_quantized.yml",
           "cifar-10_cnn/model_ckpts/resnet_v1_eembc_quantized_baseline/baseline_quantized.yml",
           "5f70fb513f26de68f9d5a494032c96f21d4aee7052c58984454cf86ad2ccc5d3"),
    _model("cifar10_baseline/resnet_v1_eembc_quantized_baseline.h5",
           "cifar-10_cnn/model_ckpts/resnet_v1_eembc_quantized_baseline/resnet_v1_eembc_quantized_baseline.h5",
           "16d7950859b11154da1e1920907a98e03480ce6030b396953aef132384673cee"),
    _model("cifar10_tiny/resnet_v1_eembc_quantized_tiny.h5",
           "cifar-10_cnn/model_ckpts/resnet_v1_eembc_quantized_tiny/resnet_v1_eembc_quantized_tiny.h5",
           "25a412a4ff312caa5612157c010d71ece7bb0121b13eb6ac8388ff83d15c72dc"),
    _model("cifar10_tiny/tiny_pynq-z2.yml",
           "cifar-10_cnn/model_ckpts/resnet_v1_eembc_quantized_tiny/tiny_pynq-z2.yml",
           "ab5df3ea1174b658112b0939694e45410cc128c91d8bbc837c7ed527830489df"),
    _model("cifar10_tiny2/resnet_v1_eembc_quantized_tiny2.h5",
           "cifar-10_cnn/model_ckpts/resnet_v1_eembc_quantized_tiny2/resnet_v1_eembc_quantized_tiny2.h5",
           "98851d129a00c710ca281ba87186714a88887d27688080c9b716b313e537d758"),
    _model("cifar10_tiny2/tiny2_pynq-z2.yml",
           "cifar-10_cnn/model_ckpts/resnet_v1_eembc_quantized_tiny2/tiny2_pynq-z2.yml",
           "7cd8faddea9a9a9ae5733213fc544b602d6b07ae9320896026933242447e2bcc"),
    _model("econt_large/run5-row21-big-econ.hdf5", "hgcal_autoencoder/model_ckpts/run5-row21-big-econ.hdf5",
           "34d11a263a01c635be4037b817fe93d01d11c920f0635c75cc51d315e16f38a5"),
    _model("econt_medium/8x8_c8_S2_tele_fqK_6bit.hdf5", "hgcal_autoencoder/model_ckpts/8x8_c8_S2_tele_fqK_6bit.hdf5",
           "d7b27359efc73b8ab1d7ae13ebed32b1bca76f3772ab583ddc880654c7936901"),
    _model("econt_small/run3-row27-small-econ.hdf5", "hgcal_autoencoder/model_ckpts/run3-row27-small-econ.hdf5",
           "c3307934a1b586fd526e1e8c4b673da3631b88d141c9b5aaf91cbcaed1cf1650"),
    _model("smartpixel_large/fkeras_dense_model_large_32.h5",
           "smart-pixel/dense_large_fkeras/fkeras_dense_model_large_32.h5",
           "07a726d5af2a67b6bf20b1b3a89b41c90f92ea31525db258e5cab0e02f1ec667"),
    _model("smartpixel_large/fkeras_dense_model_large_32_eval.txt",
           "smart-pixel/dense_large_fkeras/fkeras_dense_model_large_32_eval.txt",
           "7d7801a62d26fc8fc28de6b0a6fe8256f4a0d06bd71b5555a33a710e4c058f35"),
    _model("smartpixel_large/large_fkeras.yml", "smart-pixel/dense_large_fkeras/large_fkeras.yml",
           "51be1dba0610183ad471dd32164c9567f8b90b47abbd7513b0bbf66744a31600"),
    _model("smartpixel_large2/fkeras_dense_model_512.h5", "smart-pixel/dense_large2_fkeras/fkeras_dense_model_512.h5",
           "4e58d4e0f6d4b2e3ab7b3f376dc1f41086834bd94dc1255671ada2f5d48739a0"),
    _model("smartpixel_large2/fkeras_dense_model_512_eval.txt",
           "smart-pixel/dense_large2_fkeras/fkeras_dense_model_512_eval.txt",
           "5dc12317d81aa3d43d736988776b128fd6aeae6630561194b973c814d7caa0fa"),
    _model("smartpixel_large2/large2_fkeras.yml", "smart-pixel/dense_large2_fkeras/large2_fkeras.yml",
           "b6dd25c44b4943cafea8df0bf52edc49ab1ee909ddb9ffac867e5708393cbaf3"),
    _model("smartpixel_medium/baseline_fkeras.yml", "smart-pixel/dense_baseline_fkeras/baseline_fkeras.yml",
           "62fb4e0248d67aa86f6f181d8b8a225cc2702849dcb85974bc925408c009680a"),
    _model("smartpixel_medium/fkeras_dense_model_58.h5", "smart-pixel/dense_baseline_fkeras/fkeras_dense_model_58.h5",
           "fdd4ffd1cf600c00fdd1cc1029c2a26269d7b1e486684ed3bcee2d3b371e5800"),
    _model("smartpixel_medium/fkeras_dense_model_58_eval.txt",
           "smart-pixel/dense_baseline_fkeras/fkeras_dense_model_58_eval.txt",
           "3a06df1a207262d533d5e1f68a86d016de371d4505bd70d60f1815d2ced4cda9"),
    _model("smartpixel_small/fkeras_dense_model_16.h5", "smart-pixel/dense_small_fkeras/fkeras_dense_model_16.h5",
           "43ff89574b623a56144beb4c04d00cde0eb35d928c6964ef35e1ef432e7db3c3"),
    _model("smartpixel_small/fkeras_dense_model_16_eval.txt",
           "smart-pixel/dense_small_fkeras/fkeras_dense_model_16_eval.txt",
           "eb773672f7a70eb0b372ffdac184b25a9d764653f10047787a80b0b538326b11"),
    _model("smartpixel_small/small_fkeras.yml", "smart-pixel/dense_small_fkeras/small_fkeras.yml",
           "534eb7d6a328ea8c329de97a57172966dd9c213ef427db9ebf72994389c12e7b"),
]

REGISTRY: dict[str, Entry] = {e.name: e for e in _ENTRIES}

# (resolved path, mtime_ns, size) -> sha256 already checked in this process. Hashing the 10 MB CSVs on every load
# would dominate small runs; a changed file changes mtime or size, which invalidates the entry.
_verified: dict[tuple[str, int, int], str] = {}


def names() -> list[str]:
    """All registered names, sorted."""
    return sorted(REGISTRY)


def entry(name: str) -> Entry:
    """The registry entry for ``name`` (a user error, with a suggestion, if unknown)."""
    try:
        return REGISTRY[name]
    except KeyError:
        close = difflib.get_close_matches(name, REGISTRY, n=1)
        hint = f"; did you mean {close[0]!r}?" if close else f"; known: {', '.join(names())}"
        raise CodesignError(f"unknown data file {name!r}{hint}") from None


def path_of(name: str) -> PurePosixPath:
    """Path of ``name`` relative to the data directory, e.g. ``data/hgcal/ttbar_0PU.csv``."""
    return entry(name).path


def _check_hash(path: Path, e: Entry) -> None:
    import pooch  # light, but only needed once a file is actually read

    st = path.stat()
    key = (str(path.resolve()), st.st_mtime_ns, st.st_size)
    if _verified.get(key) == e.sha256:
        return
    actual = pooch.file_hash(str(path), alg="sha256")
    if actual != e.sha256:
        raise CodesignError(
            f"{path}: sha256 {actual[:16]}… does not match the registered {e.sha256[:16]}… for {e.name} "
            f"(source {e.source}); replace the file with the original"
        )
    _verified[key] = e.sha256


def fetch(name: str, data_dir: str | os.PathLike | None = None, download: bool = False) -> Path:
    """Absolute path of a registered file after checking its sha256.

    ``data_dir`` overrides ``CODESIGN_DATA``. A missing file is a user error unless ``download=True``, in which case
    it is retrieved from its public source into the data directory (pooch verifies the hash).
    """
    e = entry(name)
    root = _resolve_data_dir(data_dir)
    path = root.joinpath(*e.path.parts)
    if path.is_file():
        _check_hash(path, e)
        return path
    if not download:
        origin = "--data-dir" if data_dir is not None else ENV_VAR
        raise CodesignError(
            f"missing data file {e.path} in {root} (from {origin}); point {ENV_VAR} or --data-dir at a directory "
            f"holding data/ and models/ (source: {e.source})"
        )
    if e.url is None:
        raise CodesignError(f"{e.name} has no public download (it is {e.note}); copy it into {path.parent}")
    import pooch

    try:
        got = pooch.retrieve(e.url, known_hash=f"sha256:{e.sha256}", fname=path.name, path=str(path.parent),
                             progressbar=False)
    except Exception as exc:  # network errors and hash mismatches surface as many exception types
        raise CodesignError(f"could not download {e.name} from {e.url}: {' '.join(str(exc).split())}") from exc
    return Path(got)
