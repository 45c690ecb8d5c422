"""Loaders for SVHN .mat, image folders/zip/tar, CelebA, dSprites .npz and rendered sets.

Every test writes tiny files in the real formats; the real CelebA subset is used when
INFOGAN_DATA holds it (a few hundred images only).
"""

import io
import os
import shutil
import tarfile
import warnings
import zipfile
from pathlib import Path

import numpy as np
import pytest
import scipy.io
import torch
from PIL import Image

from infogan.data import DataError, DataWarning, load_dataset
from infogan.data import dsprites as ds
from infogan.data import folder as fo
from infogan.data import svhn as sv
from infogan.data.celeba import load_celeba
from infogan.data.common import md5sum
from infogan.data.rendered import load_chairs, load_faces


def one_line_naming(err: pytest.ExceptionInfo, *names) -> str:
    msg = str(err.value)
    assert "\n" not in msg, msg
    for n in names:
        assert str(n) in msg, (n, msg)
    return msg


# ---- SVHN ---------------------------------------------------------------------------------------


def write_svhn(path: Path, n=12, seed=0, y=None):
    rng = np.random.default_rng(seed)
    x = rng.integers(0, 256, (32, 32, 3, n), dtype=np.uint8)
    if y is None:
        y = (np.arange(n) % 10 + 1).astype(np.uint8).reshape(n, 1)  # 1..10, 10 = digit 0
    path.parent.mkdir(parents=True, exist_ok=True)
    scipy.io.savemat(path, {"X": x, "y": y})
    return x, y


def test_svhn_layout_and_label_mapping(tmp_path, isolated_cache):
    x, y = write_svhn(tmp_path / "svhn" / "train_32x32.mat")
    s = load_dataset("svhn", "train", tmp_path, download=False, verify=False)
    assert s.images.shape == (12, 3, 32, 32) and s.images.dtype == torch.uint8
    assert s.labels.dtype == torch.int64
    assert s.labels.tolist() == [v % 10 for v in y.ravel().tolist()]
    assert 0 in s.labels.tolist() and 10 not in s.labels.tolist()
    assert np.array_equal(s.images[5].numpy(), x[:, :, :, 5].transpose(2, 0, 1))  # (H, W, C) -> (C, H, W)


def test_svhn_md5_mismatch_is_an_error_unless_verify_false(tmp_path, isolated_cache):
    write_svhn(tmp_path / "test_32x32.mat")
    with pytest.raises(DataError) as e:
        sv.load_svhn("test", tmp_path, download=False)
    msg = one_line_naming(e, tmp_path / "test_32x32.mat", sv.SVHN_FILES["test"][1])
    assert "verify=False" in msg
    assert len(sv.load_svhn("test", tmp_path, download=False, verify=False)) == 12


def test_svhn_bad_files(tmp_path, isolated_cache):
    with pytest.raises(DataError) as e:
        sv.load_svhn("train", tmp_path, download=False)
    one_line_naming(e, "train_32x32.mat", tmp_path)
    p = tmp_path / "train_32x32.mat"
    p.write_bytes(b"MATLAB 5.0 MAT-file" + os.urandom(300))
    with pytest.raises(DataError) as e:
        sv.load_svhn("train", tmp_path, download=False, verify=False)
    one_line_naming(e, p)
    write_svhn(p, n=3, y=np.array([[0], [3], [11]], np.uint8))
    with pytest.raises(DataError, match="1-10") as e:
        sv.load_svhn("train", tmp_path, download=False, verify=False)
    one_line_naming(e, p)
    with pytest.raises(DataError, match="split"):
        sv.load_svhn("valid", tmp_path)


def test_svhn_download_into_cache(tmp_path, isolated_cache, monkeypatch):
    src = tmp_path / "mirror"
    write_svhn(src / "test_32x32.mat", n=4)
    monkeypatch.setattr(sv, "SVHN_URLS", (src.as_uri() + "/",))
    monkeypatch.setitem(sv.SVHN_FILES, "test", ("test_32x32.mat", md5sum(src / "test_32x32.mat")))
    s = sv.load_svhn("test", None, download=True)
    assert len(s) == 4 and (isolated_cache / "svhn" / "test_32x32.mat").is_file()
    (tmp_path / "mine").mkdir()  # a folder the user names: the download goes there, not to the cache
    s = sv.load_svhn("test", tmp_path / "mine", download=True)
    assert len(s) == 4 and (tmp_path / "mine" / "svhn" / "test_32x32.mat").is_file()


# ---- image folders ----------------------------------------------------------------------------------


def rgb(w, h, color):
    return Image.new("RGB", (w, h), color)


def make_image_folder(root: Path, bad=True):
    """7 good images of mixed sizes/modes, plus (if bad) a truncated JPEG and a text file named .png."""
    (root / "sub").mkdir(parents=True)
    im = rgb(100, 60, (200, 10, 10))  # red centre square, blue/green borders outside the centre crop
    px = im.load()
    for yy in range(60):
        for xx in range(20):
            px[xx, yy] = (0, 0, 255)
            px[99 - xx, yy] = (0, 255, 0)
    im.save(root / "a_wide.png")
    rgb(40, 90, (10, 200, 10)).save(root / "b_tall.jpg", quality=95)
    Image.new("L", (50, 50), 128).save(root / "c_gray.png")
    Image.new("RGBA", (33, 33), (0, 0, 0, 0)).save(root / "d_clear.png")  # transparent -> white
    Image.fromarray(np.full((20, 20), 65535, np.uint16)).save(root / "e_16bit.png")
    rgb(64, 64, (1, 2, 3)).convert("P", palette=Image.Palette.ADAPTIVE).save(root / "sub" / "f_palette.png")
    rgb(300, 200, (90, 90, 90)).save(root / "sub" / "g_big.JPEG")
    (root / "notes.txt").write_text("not an image, ignored for its suffix")
    (root / ".hidden.png").write_text("hidden files are ignored")
    if bad:
        buf = io.BytesIO()
        Image.fromarray(np.random.default_rng(0).integers(0, 256, (64, 64, 3), dtype=np.uint8)).save(buf, "JPEG")
        (root / "h_truncated.jpg").write_bytes(buf.getvalue()[:700])
        (root / "i_fake.png").write_text("this is text, not a PNG")
    return root


def test_folder_decodes_crops_and_converts(tmp_path, isolated_cache):
    root = make_image_folder(tmp_path / "imgs", bad=False)
    s = load_dataset("folder", data_dir=root, size=32, channels=3)
    assert s.images.shape == (7, 3, 32, 32) and s.images.dtype == torch.uint8 and s.labels is None
    a, b, c, d, e, f, g = (s.images[i].to(torch.int16) for i in range(7))  # sorted: a..e, sub/f, sub/g
    assert (a - torch.tensor([200, 10, 10]).view(3, 1, 1)).abs().max() <= 2  # borders cropped away
    assert (b - torch.tensor([10, 200, 10]).view(3, 1, 1)).abs().max() <= 3  # JPEG tolerance
    assert (c == 128).all() and (d == 255).all() and (e == 255).all()
    assert (f - torch.tensor([1, 2, 3]).view(3, 1, 1)).abs().max() <= 1 and (g == 90).all()
    gray = load_folder_gray = fo.load_folder(root, 64, 1)
    assert load_folder_gray.images.shape == (7, 1, 64, 64)
    assert (gray.images[0].to(torch.int16) - round(0.299 * 200 + 0.587 * 10 + 0.114 * 10)).abs().max() <= 1


def test_folder_bad_files_error_or_counted_skip(tmp_path, isolated_cache):
    root = make_image_folder(tmp_path / "imgs")
    with pytest.raises(DataError) as e:
        fo.load_folder(root, 32, 3)
    msg = one_line_naming(e, root, "h_truncated.jpg", "i_fake.png", "on_bad='skip'")
    assert "2 of 9" in msg
    with pytest.warns(DataWarning, match="skipped 2 of 9"):
        s = fo.load_folder(root, 32, 3, on_bad="skip")
    assert len(s) == 7
    with pytest.warns(DataWarning):
        d = fo.decode_source(root, 32, 3, on_bad="skip", cache=False)
    assert [n for n, _ in d.skipped] == ["h_truncated.jpg", "i_fake.png"]
    assert d.ignored == 2 and len(d.names) == 7 and "notes.txt" not in d.names
    # The cached result remembers the skip: never silent, and still an error in on_bad="error" mode.
    with pytest.warns(DataWarning, match="skipped 2 of 9"):
        fo.load_folder(root, 32, 3, on_bad="skip")
    with pytest.raises(DataError, match="h_truncated.jpg"):
        fo.load_folder(root, 32, 3)


def test_zip_and_tar_match_the_folder(tmp_path, isolated_cache):
    root = make_image_folder(tmp_path / "imgs", bad=False)
    ref = fo.load_folder(root, 32, 3).images
    zpath = tmp_path / "imgs.zip"
    with zipfile.ZipFile(zpath, "w") as zf:
        for p in sorted(root.rglob("*")):
            if p.is_file():
                zf.write(p, p.relative_to(root).as_posix())
        zf.writestr("__MACOSX/._a_wide.png", b"AppleDouble junk")
    tpath = tmp_path / "imgs.tar.gz"
    with tarfile.open(tpath, "w:gz") as tf:
        tf.add(root, arcname="imgs")
    pooled = fo.decode_source(zpath, 32, 3, workers=2, cache=False)  # process pool path
    assert np.array_equal(pooled.images, ref.numpy())
    for src in (zpath, tpath, f"folder:{tpath}"):
        s = load_dataset(src, "train") if isinstance(src, str) else fo.load_folder(src, 32, 3)
        assert torch.equal(s.images, ref), src


def test_folder_cache_is_reused_and_invalidated(tmp_path, isolated_cache, monkeypatch):
    root = make_image_folder(tmp_path / "imgs", bad=False)
    first = fo.load_folder(root, 32, 3, workers=0)
    files = sorted((isolated_cache / "images").glob("*.npy"))
    assert len(files) == 1 and np.load(files[0], mmap_mode="r").shape == (7, 3, 32, 32)

    def boom(*a, **k):
        raise AssertionError("decoded again despite the cache")

    monkeypatch.setattr(fo, "decode_image", boom)
    again = fo.load_folder(root, 32, 3)
    assert torch.equal(first.images, again.images)
    assert isinstance(fo.decode_source(root, 32, 3).images, np.memmap)
    with pytest.raises(DataError, match="boom|decoded again"):  # another size is another cache entry
        fo.load_folder(root, 64, 3)
    monkeypatch.undo()
    rgb(10, 10, (5, 5, 5)).save(root / "z_new.png")  # a changed folder is decoded again
    assert len(fo.load_folder(root, 32, 3)) == 8


def test_folder_unwritable_cache_falls_back_to_memory(tmp_path, monkeypatch):
    root = make_image_folder(tmp_path / "imgs", bad=False)
    blocker = tmp_path / "not_a_dir"
    blocker.write_text("a file where the cache dir should be")
    monkeypatch.setenv("INFOGAN_CACHE", str(blocker))
    with pytest.warns(DataWarning, match="cannot write"):
        d = fo.decode_source(root, 32, 3)
    assert d.cache_file is None and d.images.shape == (7, 3, 32, 32)


def test_folder_arguments_and_missing_sources(tmp_path, isolated_cache):
    root = make_image_folder(tmp_path / "imgs", bad=False)
    assert len(fo.load_folder(root, 32, 3, limit=3, cache=False)) == 3
    for kwargs, match in (({"size": 0}, "size"), ({"channels": 2}, "channels"), ({"on_bad": "ignore"}, "on_bad")):
        with pytest.raises(DataError, match=match):
            fo.load_folder(root, **{"size": 32, "channels": 3, **kwargs})
    with pytest.raises(DataError) as e:
        fo.load_folder(tmp_path / "nope", 32, 3)
    one_line_naming(e, tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "readme.md").write_text("x")
    with pytest.raises(DataError) as e:
        fo.load_folder(tmp_path / "empty", 32, 3)
    one_line_naming(e, tmp_path / "empty", ".png")
    (tmp_path / "broken.zip").write_bytes(b"PK\x03\x04 not really")
    with pytest.raises(DataError) as e:
        fo.load_folder(tmp_path / "broken.zip", 32, 3)
    one_line_naming(e, tmp_path / "broken.zip")
    with pytest.raises(DataError, match="needs a path"):
        load_dataset("folder")
    with pytest.raises(DataError, match="available"):
        load_dataset("imagenet")


# ---- CelebA -------------------------------------------------------------------------------------


def make_celeba(root: Path, n=6):
    """n aligned-size (178x218) JPEGs: face-colour centre, black bands above/below the 178 crop."""
    d = root / "img_align_celeba"
    d.mkdir(parents=True)
    for i in range(1, n + 1):
        im = rgb(178, 218, (180, 120, 90))
        im.paste((0, 0, 0), (0, 0, 178, 20))
        im.paste((0, 0, 0), (0, 198, 178, 218))
        im.save(d / f"{i:06d}.jpg", quality=95)
    (root / "list_eval_partition.txt").write_text(
        "".join(f"{i:06d}.jpg {0 if i <= 4 else i - 4}\n" for i in range(1, n + 1))
    )
    return d


def test_celeba_folder_with_official_partition(tmp_path, isolated_cache):
    make_celeba(tmp_path / "celeba")
    tr = load_dataset("celeba", "train", tmp_path)
    assert tr.images.shape == (4, 3, 32, 32) and tr.name == "celeba-train"
    assert (tr.images.to(torch.int16) - torch.tensor([180, 120, 90]).view(3, 1, 1)).abs().max() <= 4
    assert len(load_celeba("validation", tmp_path)) == 1 and len(load_celeba("test", tmp_path)) == 1
    assert len(load_celeba("all", tmp_path)) == 6
    assert len(list((isolated_cache / "images").glob("*.npy"))) == 1  # one decode shared by every split
    assert load_celeba("train", tmp_path, size=64, channels=1).images.shape == (4, 1, 64, 64)
    with pytest.raises(DataError, match="split"):
        load_celeba("dev", tmp_path)


def test_celeba_index_md5_and_missing_files(tmp_path, isolated_cache):
    img_dir = make_celeba(tmp_path / "celeba")
    (tmp_path / "celeba" / "list_eval_partition.txt").unlink()
    tar = tmp_path / "celeba" / "img_align_celeba.tar"
    with tarfile.open(tar, "w") as tf:
        tf.add(img_dir, arcname="img_align_celeba")
    shutil.rmtree(img_dir)
    rows = ["filename,celeba_identity,source_split,source_folder,md5"]
    with tarfile.open(tar) as tf:
        for m in sorted(tf.getmembers(), key=lambda m: m.name):
            if m.isfile():
                import hashlib

                h = hashlib.md5(tf.extractfile(m).read()).hexdigest()
                rows.append(f"{Path(m.name).name},1,{'test' if m.name.endswith('6.jpg') else 'train'},x,{h}")
    idx = tmp_path / "celeba" / "celeba_subset6000_index.csv"
    idx.write_text("\n".join(rows) + "\n")
    assert len(load_celeba("train", tmp_path)) == 5 and len(load_celeba("test", tmp_path)) == 1

    idx.write_text("\n".join(rows[:2] + [rows[2].rsplit(",", 1)[0] + "," + "0" * 32] + rows[3:]) + "\n")
    with pytest.raises(DataError) as e:
        load_celeba("train", tmp_path)
    one_line_naming(e, "000002.jpg", "md5", "verify=False")
    assert len(load_celeba("train", tmp_path, verify=False)) == 5

    idx.write_text("\n".join(rows + ["999999.jpg,1,train,x,"]) + "\n")
    with pytest.raises(DataError) as e:
        load_celeba("train", tmp_path)
    one_line_naming(e, "999999.jpg", tar)
    with pytest.warns(DataWarning, match="999999.jpg"):
        assert len(load_celeba("train", tmp_path, on_bad="skip")) == 5


def test_celeba_missing(tmp_path, isolated_cache):
    with pytest.raises(DataError) as e:
        load_celeba("train", tmp_path)
    one_line_naming(e, "img_align_celeba", tmp_path)


def test_celeba_real_subset(tmp_path, monkeypatch):
    root = os.environ.get("INFOGAN_DATA")
    tar = Path(root or "/nonexistent") / "celeba" / "celeba_img_align_subset6000.tar"
    if not tar.is_file():
        pytest.skip("INFOGAN_DATA with celeba/celeba_img_align_subset6000.tar is not set")
    monkeypatch.setenv("INFOGAN_CACHE", str(tmp_path / "cache"))
    tr = load_celeba("train", limit=200)  # md5 of each JPEG checked against the index
    te = load_celeba("test", limit=100)
    assert tr.images.shape == (200, 3, 32, 32) and te.images.shape == (100, 3, 32, 32)
    assert tr.images.dtype == torch.uint8
    x = tr.images.float()
    assert 60 < x.mean() < 200 and x.std() > 30  # real photos, not blank
    centre, corner = x[:, :, 12:20, 12:20].std(0).mean(), x[:, :, :4, :4].std(0).mean()
    assert centre > 10 and corner > 10
    assert not torch.equal(tr.images[:100], te.images)


# ---- dSprites -----------------------------------------------------------------------------------

SMALL = (1, 3, 2, 4, 3, 3)  # color, shape, scale, orientation, posX, posY


def test_make_and_load_dsprites_small_grid(tmp_path, isolated_cache):
    p = ds.make_dsprites(tmp_path / "dsprites" / "dsprites.npz", SMALL)
    with pytest.warns(DataWarning, match="re-created"):
        s = load_dataset("dsprites", "train", tmp_path, download=False)
    n = int(np.prod(SMALL))
    assert s.images.shape == (n, 1, 64, 64) and s.images.dtype == torch.uint8
    assert set(torch.unique(s.images).tolist()) == {0, 255}
    assert s.factor_names == ("shape", "scale", "orientation", "posX", "posY") and s.name == "dsprites-recreated"
    assert s.factors.shape == (n, 5) and s.factors.dtype == np.int64
    want = np.stack(np.meshgrid(*[np.arange(k) for k in SMALL[1:]], indexing="ij"), -1).reshape(-1, 5)
    assert np.array_equal(s.factors, want)  # official order: posY varies fastest
    assert torch.equal(s.labels, torch.from_numpy(want[:, 0]))
    with np.load(p) as z:
        v = z["latents_values"]
        assert z["imgs"].shape == (n, 64, 64) and z["imgs"].max() == 1 and z["latents_classes"].shape == (n, 6)
    assert np.allclose(np.unique(v[:, 2]), [0.5, 1.0]) and np.allclose(np.unique(v[:, 3]), np.linspace(0, 2 * np.pi, 4))
    assert np.allclose(np.unique(v[:, 4]), [0, 0.5, 1]) and np.array_equal(np.unique(v[:, 1]), [1, 2, 3])

    img = s.images[:, 0].numpy().reshape(*SMALL[1:], 64, 64) / 255

    def centroid(a):
        r, c = np.nonzero(a)
        return r.mean(), c.mean()

    r0, c0 = centroid(img[2, 1, 0, 0, 0])
    r1, c1 = centroid(img[2, 1, 0, 2, 0])  # posX 0 -> 1: 31 px right, same row
    r2, c2 = centroid(img[2, 1, 0, 0, 2])  # posY 0 -> 1: 31 px down, same column
    assert np.allclose((r1 - r0, c1 - c0, r2 - r0, c2 - c0), (0, 31, 31, 0))
    assert img[0, 1].sum(axis=(-1, -2)).min() > 1.5 * img[0, 0].sum(axis=(-1, -2)).max()  # scale grows area
    assert not np.array_equal(img[0, 1, 1, 0, 0], img[1, 1, 1, 0, 0])  # shapes differ
    # on the canvas at every position, also at scale 1 and any rotation
    assert img[:, :, :, :, :, 0, :].sum() == 0 and img[:, :, :, :, :, -1, :].sum() == 0


def test_dsprites_cache_reuse(tmp_path, isolated_cache, monkeypatch):
    p = ds.make_dsprites(tmp_path / "d.npz", SMALL)
    with pytest.warns(DataWarning):
        a = ds.load_dsprites(data_dir=p)
    assert len(list((isolated_cache / "dsprites").glob("*.npy"))) == 1

    def boom(*a, **k):
        raise AssertionError("decompressed again despite the cache")

    monkeypatch.setattr(ds, "_decompress", boom)
    with pytest.warns(DataWarning):
        b = ds.load_dsprites(data_dir=p)
    assert torch.equal(a.images, b.images)


def test_dsprites_official_name_checks_md5_and_layout(tmp_path, isolated_cache):
    n = 8
    rng = np.random.default_rng(0)
    classes = np.zeros((n, 6), np.int64)
    classes[:, 1] = np.arange(n) % 3
    p = tmp_path / ds.DSPRITES_FILE
    np.savez_compressed(
        p,
        imgs=rng.integers(0, 2, (n, 64, 64), dtype=np.uint8),
        latents_classes=classes,
        latents_values=classes.astype(np.float64),
    )
    with pytest.raises(DataError) as e:
        ds.load_dsprites(data_dir=tmp_path, download=False)
    one_line_naming(e, p, ds.DSPRITES_MD5, "verify=False")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # not flagged as a re-creation
        s = ds.load_dsprites(data_dir=tmp_path, download=False, verify=False)
    assert s.name == "dsprites" and s.images.shape == (n, 1, 64, 64) and s.labels.tolist() == classes[:, 1].tolist()

    bad = tmp_path / "bad" / "dsprites.npz"
    bad.parent.mkdir()
    np.savez(bad, imgs=np.zeros((2, 64, 64), np.uint8))
    with pytest.raises(DataError) as e:
        ds.load_dsprites(data_dir=bad.parent, download=False)
    one_line_naming(e, bad, "latents_classes")
    bad.write_bytes(p.read_bytes()[:500])
    with pytest.raises(DataError) as e:
        ds.load_dsprites(data_dir=bad.parent, download=False)
    one_line_naming(e, bad)
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError) as e:
        ds.load_dsprites(data_dir=tmp_path / "empty", download=False)
    one_line_naming(e, ds.DSPRITES_FILE, "make-dsprites")
    with pytest.raises(DataError) as e:  # a data_dir that is named must exist: no other data instead
        ds.load_dsprites(data_dir=tmp_path / "nowhere", download=False)
    one_line_naming(e, tmp_path / "nowhere", "does not exist")


def test_dsprites_full_grid_values():
    vals = ds.factor_values()
    assert [len(v) for v in vals] == [1, 3, 6, 40, 32, 32]
    assert vals[2][0] == 0.5 and vals[2][-1] == 1 and np.isclose(vals[3][-1], 2 * np.pi) and vals[5][-1] == 1
    with pytest.raises(DataError, match="factor_sizes"):
        ds.make_dsprites("/nonexistent/x.npz", (2, 3, 6, 40, 32, 32))


# ---- 3D chairs and faces ------------------------------------------------------------------------


def test_chairs_layout_and_factors(tmp_path, isolated_cache):
    root = tmp_path / "chairs" / "rendered_chairs"
    for m, model in enumerate(("1a6f615e8b1b5ae4dbbc9440457e303e", "1a74a83fa6d24b3cacd67ce2c72c02e")):
        (root / model / "renders").mkdir(parents=True)
        rgb(600, 600, (255, 255, 255)).save(root / model / "model_preview.png")  # not under renders/: ignored
        for t in (0, 11, 22):
            im = rgb(600, 600, (255, 255, 255))
            im.paste((40 * (m + 1), 0, 0), (200, 200, 400, 400))
            im.save(root / model / "renders" / f"image_{t // 11:03d}_p020_t{t:03d}_r096.png")
    s = load_dataset("chairs", "train", tmp_path)
    assert s.images.shape == (6, 1, 64, 64) and s.images.dtype == torch.uint8
    assert s.factor_names == ("model", "elevation", "azimuth")
    assert s.factors.tolist() == [[0, 20, 0], [0, 20, 11], [0, 20, 22], [1, 20, 0], [1, 20, 11], [1, 20, 22]]
    assert s.images[0, 0, 0, 0] == 255 and s.images[0, 0, 32, 32] < s.images[3, 0, 32, 32] < 255
    assert len(load_chairs("test", root, limit=2)) == 2  # data_dir may be the folder itself


def test_faces_folder(tmp_path, isolated_cache):
    d = tmp_path / "faces"
    d.mkdir()
    for i in range(5):
        Image.new("L", (150, 150), 50 * i).save(d / f"face_{i}.png")
    s = load_dataset("faces", "train", tmp_path)
    assert s.images.shape == (5, 1, 32, 32) and s.images[:, 0, 0, 0].tolist() == [0, 50, 100, 150, 200]
    assert torch.equal(load_faces("all", d).images, s.images)
    with pytest.raises(DataError, match="split"):
        load_faces("validation", d)
    with pytest.raises(DataError) as e:
        load_faces("train", tmp_path / "none")
    one_line_naming(e, "faces")


# ---- user images (encode, cluster) decode like training ---------------------------------------------


def make_tricky_images(root: Path) -> Path:
    """Random-pixel files of the modes where decoders disagree: EXIF-rotated, RGBA, 16-bit gray, palette."""
    rng = np.random.default_rng(1)
    root.mkdir(parents=True)
    upright = Image.fromarray(rng.integers(0, 256, (24, 40, 3), dtype=np.uint8))  # 40 wide, 24 high
    exif = Image.Exif()
    exif[0x0112] = 6  # orientation: shown rotated 90° clockwise
    upright.transpose(Image.Transpose.ROTATE_90).save(root / "a_exif.png", exif=exif)
    upright.save(root / "a_upright.png")
    rgba = rng.integers(0, 256, (30, 30, 4), dtype=np.uint8)
    rgba[:, :15, 3] = 0  # left half fully transparent
    Image.fromarray(rgba, "RGBA").save(root / "b_rgba.png")
    Image.fromarray(rng.integers(0, 65536, (28, 36), dtype=np.uint16)).save(root / "c_gray16.png")
    pal = Image.fromarray(rng.integers(0, 256, (26, 26, 3), dtype=np.uint8)).convert("P", palette=Image.Palette.ADAPTIVE)
    pal.save(root / "d_palette.png", transparency=0)
    return root


@pytest.mark.parametrize("channels", [1, 3])
def test_encode_and_cluster_decode_exactly_like_training(tmp_path, isolated_cache, channels):
    from infogan.data.images import list_images, load_image, load_images
    from infogan.explore.cluster import _load_chunk

    root = make_tricky_images(tmp_path / "imgs")
    assert Image.open(root / "c_gray16.png").mode.startswith("I")  # really 16-bit on disk
    assert Image.open(root / "d_palette.png").mode == "P"
    shape = (channels, 16, 16)
    train = fo.decode_source(root, 16, channels, cache=False)  # the training image-folder loader
    files = list_images([root])
    assert [f.relative_to(root).as_posix() for f in files] == list(train.names)
    encoded = load_images(files, shape)  # infogan encode
    clustered, ok, bad = _load_chunk(files, shape)  # infogan cluster
    assert ok == list(range(len(files))) and bad == []
    assert torch.equal(encoded, torch.from_numpy(np.asarray(train.images)))
    assert torch.equal(clustered, encoded)
    for i, f in enumerate(files):
        assert np.array_equal(load_image(f, shape), train.images[i]), f.name
    by_name = dict(zip(train.names, torch.from_numpy(np.asarray(train.images))))
    assert torch.equal(by_name["a_exif.png"], by_name["a_upright.png"])  # EXIF orientation applied
    assert (by_name["b_rgba.png"][:, :, :7] == 255).all()  # transparent over white


def test_encode_names_an_unreadable_file(tmp_path):
    from infogan.data.images import list_images, load_images

    (tmp_path / "x.png").write_text("not a PNG")
    with pytest.raises(DataError) as e:
        load_images(list_images([tmp_path]), (1, 16, 16))
    one_line_naming(e, tmp_path / "x.png", "not a readable image")
    with pytest.raises(DataError, match="nope: no such file"):
        list_images([tmp_path / "nope"])
    (tmp_path / "empty" / "__MACOSX").mkdir(parents=True)
    (tmp_path / "empty" / "__MACOSX" / "._x.png").write_bytes(b"AppleDouble junk")  # hidden, as in training
    with pytest.raises(DataError, match="no images"):
        list_images([tmp_path / "empty"])


# ---- downloads: mirrors, retries, checksums --------------------------------------------------------


def test_idx_download_falls_back_to_a_mirror_and_checks_md5(tmp_path, isolated_cache, monkeypatch):
    import dataclasses
    import gzip

    from infogan.data import common
    from infogan.data import idx as ix

    monkeypatch.setattr(common.time, "sleep", lambda s: None)
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    imgs = np.arange(3 * 28 * 28, dtype=np.uint32).astype(np.uint8).reshape(3, 28, 28)
    blobs = {
        "t10k-images-idx3-ubyte": bytes([0, 0, 8, 3]) + b"".join(d.to_bytes(4, "big") for d in imgs.shape)
        + imgs.tobytes(),
        "t10k-labels-idx1-ubyte": bytes([0, 0, 8, 1]) + (3).to_bytes(4, "big") + bytes([4, 5, 6]),
    }
    for name, blob in blobs.items():
        (mirror / f"{name}.gz").write_bytes(gzip.compress(blob))
    sums = {n: md5sum(mirror / f"{n}.gz") for n in blobs}
    src = dataclasses.replace(ix.MNIST, md5_raw={}, md5_gz=sums, mirrors=((tmp_path / "gone").as_uri() + "/",
                                                                       mirror.as_uri() + "/"))
    monkeypatch.setitem(ix.SOURCES, "mnist", src)
    s = ix.load_idx("mnist", "test", None)  # no data_dir named: downloads go to the cache dir
    assert s.images.shape == (3, 1, 28, 28) and torch.equal(s.images[:, 0], torch.from_numpy(imgs))
    assert s.labels.tolist() == [4, 5, 6]
    assert sorted(p.name for p in (isolated_cache / "mnist").iterdir()) == sorted(f"{n}.gz" for n in blobs)

    # a mirror that serves other bytes: every try fails the md5, nothing is left in the cache
    bad = dataclasses.replace(src, md5_gz={n: "0" * 32 for n in blobs})
    monkeypatch.setitem(ix.SOURCES, "mnist", bad)
    shutil.rmtree(isolated_cache / "mnist")
    with pytest.raises(DataError) as e:
        ix.load_idx("mnist", "test", None)
    one_line_naming(e, "t10k-images-idx3-ubyte.gz", "not found (looked in", "checksum mismatch", "--data-dir")
    assert list((isolated_cache / "mnist").iterdir()) == []
