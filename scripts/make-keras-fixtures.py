#!/usr/bin/env python3
"""Builds the Keras fixtures that prove `model/keras.ts` against Keras itself.

What it writes (into test/fixtures/keras/, all committed, about 1.3 MB in all):

* DSen2-architecture Keras models with seeded weights, saved to HDF5 by Keras:
  - dsen2-20m-f32-d2.h5          tf_keras (Keras 2.x), channels_first, exactly lanha/DSen2
                                 `utils/DSen2Net.py` `s2model` (Concatenate(axis=1), Conv2D(relu),
                                 d x [Conv2D, Activation('relu'), Conv2D, Lambda(lambda x: x * scale),
                                 Add], Conv2D, Add(input20)), f=32, d=2, random non-zero biases.
  - dsen2-60m-f16-d1-keras3.h5   Keras 3 legacy HDF5, channels_last (lanha/DSen2 since its Nov 2024
                                 "issue #44" commit), three inputs (10 m, 20 m, 60 m), f=16, d=1.
  - dsen2-20m-f16-d1-weights.h5  tf_keras `save_weights` (weights only, no model_config) of a DSen2
                                 f=16 d=1 model built after other models, so its layers are named
                                 conv2d_N with N > 0: the importer must map them by position.
  - misc-keras3.h5               Keras 3, channels_last, not DSen2: inputs concatenated out of order,
                                 rectangular kernels, Conv2DTranspose without bias, Rescaling, ReLU,
                                 Activation, a Concatenate of two branches, Add.
  - unsupported-layer.h5         tf_keras model with a BatchNormalization layer (must be refused).
* input-48.f32: the exact network input fed to every model, float32 little-endian NCHW
  [1, 12, 48, 48]: a 48 x 48 fine-pixel (10 m) window of the DSen2 demo scene
  dsen2-demo/S2A_MSIL1C_20170527_T33UUB.mat (L1C, processing baseline before 04.00, so no DN offset),
  channels B02, B03, B04, B08 (10 m), B05, B06, B07, B8A, B11, B12 (20 m, bilinearly upsampled x2),
  B01, B09 (60 m, upsampled x6), each DN / 2000. The bilinear upsampling is the project's
  (`patches/upsample.ts`: skimage resize order 1, mode 'reflect': pixel centres, mirror edges).
  20 m models take channels 0..9, 60 m models all 12.
* <model>.out.f32: Keras' own prediction for that input, float32 NCHW [1, outputs, 48, 48], in
  normalised units (DN / 2000).
* <model>.out64.f64: Keras' prediction with the same weights and input computed in float64 (every
  layer's dtype set to float64), float64 NCHW. Keras' float32 result is itself up to ~0.005 DN away from
  this; the tests use it to check the import exactly (float64 against float64, within 1e-3 DN) and the
  float32 engines against the float32 prediction.
* fixtures.json: the header: shapes, crop, and per model the HDF5 file, its sha256, the Keras that
  wrote and ran it, the satellite group, the input channels and the output file. The AESR files
  (UP42, /work/shared/data/aesr-weights-up42/) are listed by sha256 but never copied here.

Also writes a full-size DSen2 (f=128, d=6, 20 m, ~7 MB) and its output into .cache/keras-fixtures/
(gitignored); the integration test uses it when present.

How Keras runs channels_first models: TensorFlow's CPU kernels reject NCHW convolutions (the reason
for lanha/DSen2 issue #44), so each channels_first model is rebuilt from its own config with
data_format channels_last (Concatenate axis -1, inputs NHWC), and Keras loads the weights into that
copy from the same HDF5 file with `load_weights` (kernel layouts do not depend on the data format).
The input is transposed to NHWC and the output back to NCHW.

Re-run (not part of CI; TensorFlow is not needed by the tests):

    python3 -m venv .venv-keras
    .venv-keras/bin/pip install tensorflow-cpu==2.21.0 h5py
    .venv-keras/bin/pip install --no-deps tf_keras==2.21.0   # Keras 2.x, matching tensorflow
    .venv-keras/bin/python scripts/make-keras-fixtures.py

The models are seeded, but TensorFlow's initialisers may change between versions: after a re-run,
commit the new .h5 files together with the new outputs and fixtures.json.
"""
from __future__ import annotations

import hashlib
import json
import os
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import h5py  # noqa: E402
import numpy as np  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
OUT = REPO / "test" / "fixtures" / "keras"
BIG = REPO / ".cache" / "keras-fixtures"
DATA = Path(os.environ.get("SHARPSTREAM_DATA", REPO.parent / "shared" / "data"))
SCENE = DATA / "dsen2-demo" / "S2A_MSIL1C_20170527_T33UUB.mat"
AESR = DATA / "aesr-weights-up42"

SIZE = 48  # fine pixels; a multiple of 6 so the 60 m window is whole
ROW0, COL0 = 246, 312  # fine-grid origin of the window, multiples of 6
SCALE = 2000.0


def rel(p: Path) -> str:
    """Every path in fixtures.json is relative to the repository root."""
    return str(p.relative_to(REPO))


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# ---------------------------------------------------------------------------------------------
# Input: the project's bilinear upsampling (patches/upsample.ts), on float64, stored as float32.


def mirror_index(i: np.ndarray, n: int) -> np.ndarray:
    if n == 1:
        return np.zeros_like(i)
    period = 2 * (n - 1)
    k = np.mod(i, period)
    return np.where(k >= n, period - k, k)


def bilinear_axis(n_out: int, n_in: int, factor: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    u = (np.arange(n_out) + 0.5) / factor - 0.5
    f = np.floor(u).astype(np.int64)
    t = u - f
    return mirror_index(f, n_in), mirror_index(f + 1, n_in), t


def upsample(band: np.ndarray, factor: int) -> np.ndarray:
    """Bilinear x factor of one 2-D band: rows first, then columns (separable)."""
    rows, cols = band.shape
    i0, i1, tx = bilinear_axis(cols * factor, cols, factor)
    tmp = band[:, i0] * (1 - tx) + band[:, i1] * tx
    j0, j1, ty = bilinear_axis(rows * factor, rows, factor)
    return tmp[j0, :] * (1 - ty)[:, None] + tmp[j1, :] * ty[:, None]


def make_input() -> tuple[np.ndarray, dict]:
    with h5py.File(SCENE, "r") as f:
        # The .mat stores (band, col, row): transpose to (band, row, col).
        im10 = np.asarray(f["im10"], dtype=np.float64).transpose(0, 2, 1)
        im20 = np.asarray(f["im20"], dtype=np.float64).transpose(0, 2, 1)
        im60 = np.asarray(f["im60"], dtype=np.float64).transpose(0, 2, 1)
    c10 = im10[:, ROW0 : ROW0 + SIZE, COL0 : COL0 + SIZE]
    c20 = im20[:, ROW0 // 2 : (ROW0 + SIZE) // 2, COL0 // 2 : (COL0 + SIZE) // 2]
    c60 = im60[:, ROW0 // 6 : (ROW0 + SIZE) // 6, COL0 // 6 : (COL0 + SIZE) // 6]
    chans = [c / SCALE for c in c10]
    chans += [upsample(c, 2) / SCALE for c in c20]
    chans += [upsample(c, 6) / SCALE for c in c60]
    x = np.stack(chans)[None].astype(np.float32)
    info = {
        "scene": "dsen2-demo/S2A_MSIL1C_20170527_T33UUB.mat",
        "sceneSha256": sha256(SCENE),
        "window": {"row": ROW0, "col": COL0, "size": SIZE, "grid": "10 m"},
        "bands": ["B02", "B03", "B04", "B08", "B05", "B06", "B07", "B8A", "B11", "B12", "B01", "B09"],
        "normalisation": "DN / 2000, no DN offset",
        "upsample": "bilinear, pixel centres, mirror edges (patches/upsample.ts)",
    }
    return x, info


# ---------------------------------------------------------------------------------------------
# Models


def s2model(keras, input_shape, num_layers: int, feature_size: int):
    """lanha/DSen2 utils/DSen2Net.py s2model, with the image data format taken from the backend."""
    L = keras.layers
    axis = 1 if keras.backend.image_data_format() == "channels_first" else -1

    def res_block(x, channels, kernel_size=(3, 3), scale=0.1):
        tmp = L.Conv2D(channels, kernel_size, kernel_initializer="he_uniform", padding="same")(x)
        tmp = L.Activation("relu")(tmp)
        tmp = L.Conv2D(channels, kernel_size, kernel_initializer="he_uniform", padding="same")(tmp)
        tmp = L.Lambda(lambda x: x * scale)(tmp)
        return L.Add()([x, tmp])

    input10 = L.Input(shape=input_shape[0])
    input20 = L.Input(shape=input_shape[1])
    if len(input_shape) == 3:
        input60 = L.Input(shape=input_shape[2])
        x = L.Concatenate(axis=axis)([input10, input20, input60])
    else:
        x = L.Concatenate(axis=axis)([input10, input20])
    x = L.Conv2D(feature_size, (3, 3), kernel_initializer="he_uniform", activation="relu", padding="same")(x)
    for _ in range(num_layers):
        x = res_block(x, feature_size)
    n_out = input_shape[-1][0] if axis == 1 else input_shape[-1][-1]
    x = L.Conv2D(n_out, (3, 3), kernel_initializer="he_uniform", padding="same")(x)
    if len(input_shape) == 3:
        x = L.Add()([x, input60])
        return keras.Model(inputs=[input10, input20, input60], outputs=x)
    x = L.Add()([x, input20])
    return keras.Model(inputs=[input10, input20], outputs=x)


def randomise_biases(model, seed: int) -> None:
    """He-uniform leaves biases at zero; give them small seeded values so bias loading is tested."""
    rng = np.random.default_rng(seed)
    for layer in model.layers:
        w = layer.get_weights()
        if len(w) == 2:
            layer.set_weights([w[0], rng.uniform(-0.05, 0.05, size=w[1].shape).astype(np.float32)])


def shapes(channels: list[int], channels_first: bool):
    return [(c, None, None) if channels_first else (None, None, c) for c in channels]


def rebuilt_config(config: dict, float64: bool) -> dict:
    """A functional model config with every channels_first layer made channels_last, optionally in float64."""
    config = json.loads(json.dumps(config))
    for layer in config["layers"]:
        c = layer["config"]
        if c.get("data_format") == "channels_first":
            c["data_format"] = "channels_last"
        if layer["class_name"] == "Concatenate" and c.get("axis") == 1:
            c["axis"] = -1
        for key in ("batch_input_shape", "batch_shape"):
            if key in c and c[key] is not None and len(c[key]) == 4 and c[key][1] is not None:
                b, ch, h, w = c[key]
                c[key] = [b, h, w, ch]
        if float64 and "dtype" in c:
            if isinstance(c["dtype"], dict):
                c["dtype"]["config"]["name"] = "float64"
            else:
                c["dtype"] = "float64"
    return config


def keras_predict(keras, path: Path, x_nchw: np.ndarray, n_inputs: list[int], channels_first: bool, float64: bool, build=None):
    """Keras' prediction for a saved model file (NCHW in, NCHW out), with the weights Keras loads from that file.

    float32 channels_last models run as loaded; channels_first ones (and every float64 run) run as a copy
    rebuilt from their own config (channels_last, or float64 layers), into which Keras loads the file's weights.
    """
    if build is not None:
        model = build()  # weights-only file: build the architecture, then load by topology
    else:
        model = keras.models.load_model(str(path), compile=False, safe_mode=False)
    if channels_first or float64:
        model = keras.Model.from_config(rebuilt_config(model.get_config(), float64))
    model.load_weights(str(path))
    dtype = np.float64 if float64 else np.float32
    parts, start = [], 0
    for n in n_inputs:
        parts.append(x_nchw[:, start : start + n].transpose(0, 2, 3, 1).astype(dtype))
        start += n
    y = np.asarray(model.predict(parts, verbose=0))
    if y.dtype != dtype:
        raise RuntimeError(f"{path.name}: Keras predicted {y.dtype}, expected {dtype}")
    return np.ascontiguousarray(y.transpose(0, 3, 1, 2))


def main() -> int:
    import tensorflow as tf
    import tf_keras
    import keras as keras3
    from tf_keras.src.saving import serialization_lib as tf_keras_serialization

    # The models' Lambda layers are our own: let both Kerases rebuild them from config.
    tf_keras_serialization.enable_unsafe_deserialization()
    keras3.config.enable_unsafe_deserialization()

    OUT.mkdir(parents=True, exist_ok=True)
    BIG.mkdir(parents=True, exist_ok=True)
    x, info = make_input()
    (OUT / "input-48.f32").write_bytes(x.astype("<f4").tobytes())
    header: dict = {
        "input": {"file": rel(OUT / "input-48.f32"), "shape": list(x.shape), "dtype": "float32le", **info},
        "tensorflow": tf.__version__,
        "models": {},
    }

    def predict(keras, path, x_in, n_in, channels_first, build=None):
        y32 = keras_predict(keras, path, x_in, n_in, channels_first, False, build)
        y64 = keras_predict(keras, path, x_in, n_in, channels_first, True, build)
        return y32, y64

    def record(name, path: Path, keras_name: str, group: str, n_in: int, ys, out_dir: Path, extra=None):
        y, y64 = ys
        out_file = out_dir / f"{name}.out.f32"
        out_file.write_bytes(y.astype("<f4").tobytes())
        out64_file = out_dir / f"{name}.out64.f64"
        out64_file.write_bytes(y64.astype("<f8").tobytes())
        header["models"][name] = {
            "file": rel(path) if path.is_relative_to(REPO) else None,
            "sha256": sha256(path),
            "bytes": path.stat().st_size,
            "keras": keras_name,
            "satellite": "sentinel-2-l1c",
            "group": group,
            "inputChannels": n_in,
            "output": {"file": rel(out_file), "shape": list(y.shape), "dtype": "float32le"},
            "output64": {"file": rel(out64_file), "shape": list(y64.shape), "dtype": "float64le"},
            **(extra or {}),
        }
        d = np.abs(y.astype(np.float64) - y64).max() * SCALE
        print(f"{name}: {path.stat().st_size} bytes, output range {y.min():.4f}..{y.max():.4f}, Keras float32 vs float64: {d:.5f} DN")

    k2 = f"tf_keras {tf_keras.__version__}"
    k3 = f"keras {keras3.__version__}"

    # UP42 AESR (Keras 2.4.0, channels_first), from the shared data.
    for group, n_in in (("20m", [4, 6]), ("60m", [4, 6, 2])):
        path = AESR / f"aesr_{group}_s2_038_lr_1e-04.hdf5"
        y = predict(tf_keras, path, x[:, : sum(n_in)], n_in, True)
        record(f"aesr-{group}", path, k2, group, sum(n_in), y, OUT, {"sharedData": ["aesr-weights-up42", path.name]})

    # DSen2, Keras 2.x, channels_first, f=32 d=2 (20 m).
    tf_keras.backend.set_image_data_format("channels_first")
    tf_keras.utils.set_random_seed(20)
    m = s2model(tf_keras, shapes([4, 6], True), num_layers=2, feature_size=32)
    randomise_biases(m, 20)
    path = OUT / "dsen2-20m-f32-d2.h5"
    m.save(str(path), include_optimizer=False)
    y = predict(tf_keras, path, x[:, :10], [4, 6], True)
    record("dsen2-20m-f32-d2", path, k2, "20m", 10, y, OUT, {"architecture": {"type": "dsen2", "blocks": 2, "filters": 32, "residualScale": 0.1}})

    # DSen2 weights only (tf_keras save_weights), channels_last, f=16 d=1, layer names conv2d_N, N > 0.
    tf_keras.backend.set_image_data_format("channels_last")
    tf_keras.utils.set_random_seed(21)
    build_w = lambda: s2model(tf_keras, shapes([4, 6], False), num_layers=1, feature_size=16)  # noqa: E731
    m = build_w()
    randomise_biases(m, 21)
    path = OUT / "dsen2-20m-f16-d1-weights.h5"
    m.save_weights(str(path))
    y = predict(tf_keras, path, x[:, :10], [4, 6], False, build_w)
    record("dsen2-20m-f16-d1-weights", path, k2, "20m", 10, y, OUT, {"architecture": {"type": "dsen2", "blocks": 1, "filters": 16, "residualScale": 0.1}, "weightsOnly": True})

    # Unsupported layer (BatchNormalization), tf_keras: the importer must refuse it by name.
    tf_keras.utils.set_random_seed(22)
    L = tf_keras.layers
    a = L.Input(shape=(None, None, 4))
    b = L.Input(shape=(None, None, 6))
    h = L.Concatenate(axis=-1)([a, b])
    h = L.Conv2D(4, 3, padding="same", activation="relu")(h)
    h = L.BatchNormalization(name="batch_norm")(h)
    h = L.Conv2D(6, 3, padding="same")(h)
    path = OUT / "unsupported-layer.h5"
    tf_keras.Model([a, b], h).save(str(path), include_optimizer=False)
    header["models"]["unsupported-layer"] = {"file": rel(path), "sha256": sha256(path), "keras": k2, "expectError": "BatchNormalization"}

    # DSen2, Keras 3, channels_last, f=16 d=1 (60 m: three inputs).
    keras3.backend.set_image_data_format("channels_last")
    keras3.utils.set_random_seed(60)
    m = s2model(keras3, shapes([4, 6, 2], False), num_layers=1, feature_size=16)
    randomise_biases(m, 60)
    path = OUT / "dsen2-60m-f16-d1-keras3.h5"
    m.save(str(path), include_optimizer=False)
    y = predict(keras3, path, x, [4, 6, 2], False)
    record("dsen2-60m-f16-d1-keras3", path, k3, "60m", 12, y, OUT, {"architecture": {"type": "dsen2", "blocks": 1, "filters": 16, "residualScale": 0.1}})

    # Not DSen2: the generic path in Keras 3 (20 m).
    keras3.utils.set_random_seed(7)
    L3 = keras3.layers
    a = L3.Input(shape=(None, None, 4), name="in10")
    b = L3.Input(shape=(None, None, 6), name="in20")
    h = L3.Concatenate(axis=-1)([b, a])  # out of order on purpose
    h = L3.Conv2D(8, (5, 3), padding="same", activation="relu")(h)
    t = L3.Conv2DTranspose(8, (3, 5), padding="same", use_bias=False)(h)
    t = L3.Activation("relu")(t)
    r = L3.Conv2D(4, (1, 1), padding="same", use_bias=False)(h)
    r = L3.ReLU()(r)
    h = L3.Concatenate(axis=-1)([t, r])
    h = L3.Conv2D(6, 3, padding="same")(h)
    h = L3.Rescaling(0.5)(h)
    h = L3.Add()([b, h])
    m = keras3.Model([a, b], h, name="misc")
    randomise_biases(m, 7)
    path = OUT / "misc-keras3.h5"
    m.save(str(path), include_optimizer=False)
    y = predict(keras3, path, x[:, :10], [4, 6], False)
    record("misc-keras3", path, k3, "20m", 10, y, OUT)

    # Full-size DSen2 (f=128, d=6), tf_keras, channels_first, kept out of git.
    tf_keras.backend.set_image_data_format("channels_first")
    tf_keras.utils.set_random_seed(128)
    m = s2model(tf_keras, shapes([4, 6], True), num_layers=6, feature_size=128)
    randomise_biases(m, 128)
    path = BIG / "dsen2-20m-f128-d6.h5"
    m.save(str(path), include_optimizer=False)
    y = predict(tf_keras, path, x[:, :10], [4, 6], True)
    record("dsen2-20m-f128-d6", path, k2, "20m", 10, y, BIG, {"architecture": {"type": "dsen2", "blocks": 6, "filters": 128, "residualScale": 0.1}, "local": True})

    (OUT / "fixtures.json").write_text(json.dumps(header, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
