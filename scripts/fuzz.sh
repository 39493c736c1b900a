#!/usr/bin/env bash
# Fuzzes the readers of user files with libFuzzer for a fixed time per target (issue 17); not part of `swift test`.
#
#   scripts/fuzz.sh TARGET|all SECONDS [libFuzzer options...]
#
# Targets: nifti (NIfTI-1/2 header and body, gzip or not, both byte orders), metaimage (.mha), manifest-yaml,
# manifest-csv (dataset import manifests), centroids (VerSe centroid JSON), config (train config YAML).
# Builds Sources/RachisFuzz with -sanitize=fuzzer into .build-fuzz/ (apart from the normal build), writes seed files
# at run time (Python nibabel and SimpleITK for the images; the examples' configs; small manifests and centroid
# files written here), and runs each target for SECONDS. A crash (trap, signal, hang over 30 s, more than 2 GiB of
# memory) leaves its input in .build-fuzz/artifacts/TARGET/; replay one with a plain build:
#   swift build --product rachis-fuzz && .build/debug/rachis-fuzz TARGET FILE
# The targets run side by side. Prints one line per target: executions and crashes. Exits 1 when any crashed.
set -euo pipefail
cd "$(dirname "$0")/.."

targets=(nifti metaimage manifest-yaml manifest-csv centroids config)
if [[ $# -lt 2 ]]; then
    echo "usage: scripts/fuzz.sh TARGET|all SECONDS [libFuzzer options...]; targets: ${targets[*]}" >&2
    exit 2
fi
target=$1 seconds=$2
shift 2
if [[ $target == all ]]; then run=("${targets[@]}"); else run=("$target"); fi
for t in "${run[@]}"; do
    [[ " ${targets[*]} " == *" $t "* ]] || { echo "unknown target $t; targets: ${targets[*]}" >&2; exit 2; }
done

scratch=.build-fuzz
swift build --product rachis-fuzz --scratch-path "$scratch" -Xswiftc -sanitize=fuzzer -Xswiftc -DRACHIS_FUZZ >&2
binary=$(swift build --product rachis-fuzz --scratch-path "$scratch" -Xswiftc -sanitize=fuzzer -Xswiftc -DRACHIS_FUZZ --show-bin-path)/rachis-fuzz

seeds=$scratch/seeds
if [[ ! -f $seeds/done ]]; then
    rm -rf "$seeds"
    mkdir -p "$seeds"/{nifti,metaimage,manifest-yaml,manifest-csv,centroids,config}
    cp examples/configs/*.yaml examples/attribution/*.yaml examples/learning/*.yaml examples/loose-labels/train.yaml "$seeds/config/"
    python3 - "$seeds" <<'EOF'
import sys, os, json
import numpy as np
seeds = sys.argv[1]
def put(folder, name, text):
    with open(os.path.join(seeds, folder, name), "w") as f: f.write(text)

# NIfTI: small volumes so that mutations reach the header as often as the body.
import nibabel as nib
rng = np.random.default_rng(0)
oblique = np.array([[0, 0, -1.5, 20], [0.9, 0.2, 0, -10], [-0.2, 0.9, 0, 5], [0, 0, 0, 1]], float)
volumes = [
    ("f32-sform", nib.Nifti1Image, rng.normal(size=(4, 5, 3)).astype("<f4"), oblique, {}),
    ("i16-qform", nib.Nifti1Image, rng.integers(-100, 100, size=(3, 4, 5)).astype("<i2"), np.diag([1.2, 1.0, 3.0, 1]), {"qform_only": True}),
    ("u8-labels", nib.Nifti1Image, rng.integers(0, 27, size=(5, 4, 3)).astype("u1"), np.diag([-1, -1, 2, 1]), {}),
    ("f32-bigendian", nib.Nifti1Image, rng.normal(size=(3, 3, 4)).astype(">f4"), oblique, {"endianness": ">"}),
    ("f64-4d", nib.Nifti1Image, rng.normal(size=(3, 4, 2, 2)).astype("<f8"), np.diag([2, 2, 2, 1]), {}),
    ("nifti2-f32", nib.Nifti2Image, rng.normal(size=(4, 3, 3)).astype("<f4"), oblique, {}),
    ("nifti2-u16-bigendian", nib.Nifti2Image, rng.integers(0, 1000, size=(3, 3, 3)).astype(">u2"), np.diag([1, 1, 1, 1]), {"endianness": ">"}),
]
for name, kind, data, affine, options in volumes:
    header = (nib.Nifti2Header if kind is nib.Nifti2Image else nib.Nifti1Header)(endianness=options.get("endianness", "<"))
    image = kind(data, affine, header=header)
    if options.get("qform_only"):
        image.set_sform(None, code=0)
        image.set_qform(affine, code=1)
    image.header.set_xyzt_units("mm")
    for suffix in [".nii", ".nii.gz"]:
        nib.save(image, os.path.join(seeds, "nifti", name + suffix))

# MetaImage: SimpleITK's writer, raw and compressed, one and two channels, an oblique direction.
import SimpleITK as sitk
for name, array, components, compress in [
    ("f32", rng.normal(size=(3, 4, 5)).astype(np.float32), False, False),
    ("i16-compressed", rng.integers(-50, 50, size=(4, 3, 3)).astype(np.int16), False, True),
    ("u8-vector", rng.integers(0, 255, size=(3, 3, 4, 2)).astype(np.uint8), True, False),
    ("f64-vector-compressed", rng.normal(size=(3, 3, 3, 2)), True, True),
]:
    image = sitk.GetImageFromArray(array, isVector=components)
    image.SetSpacing((1.5, 1.0, 3.0))
    image.SetOrigin((10.0, -5.0, 2.5))
    image.SetDirection((0.0, 0.0, 1.0, 0.98, 0.2, 0.0, -0.2, 0.98, 0.0))
    sitk.WriteImage(image, os.path.join(seeds, "metaimage", name + ".mha"), compress)
put("metaimage", "hand.mha", "ObjectType = Image\nNDims = 3\nBinaryData = True\nBinaryDataByteOrderMSB = True\n"
    "CompressedData = False\nTransformMatrix = 1 0 0 0 1 0 0 0 1\nOffset = 0 0 0\nElementSpacing = 1 1 2\n"
    "DimSize = 2 2 2\nElementNumberOfChannels = 1\nElementType = MET_SHORT\nElementDataFile = LOCAL\n" + "\x00\x01" * 8)

# Import manifests: every field, YAML and CSV.
put("manifest-yaml", "full.yaml", """name: fuzz
classNames: [healthy, spa]
channels: [T1, STIR]
labelMapping: mapping.yaml
subjects:
  - id: s1
    images: {T1: s1_t1.nii.gz, STIR: s1_stir.nii.gz}
    vertebrae: s1_vertebrae.nii.gz
    structures: s1_structures.nii.gz
    centroids: s1_ctd.json
    classes: {L1: 0, L2: spa, T12: 1}
    annotation: partial
  - id: s2
    images: {T1: s2_t1.mha, STIR: s2_stir.mha}
    classes: {S: healthy}
  - id: s3
    images: {T1: /abs/s3.nii, STIR: s3.mhd}
""")
put("manifest-yaml", "flow.json", json.dumps({"name": "j", "classNames": ["a"], "channels": ["T1"],
    "subjects": [{"id": "x.1", "images": {"T1": "x.nii"}, "vertebrae": "v.nii", "annotation": "box", "classes": {"C3": 0}}]}))
put("manifest-csv", "full.csv", """# a comment
id,annotation,vertebrae,structures,centroids,classes,image:T1,image:STIR
s1,partial,s1_v.nii.gz,s1_s.nii.gz,s1.json,L1=0;L2=spa,s1_t1.nii.gz,s1_stir.nii.gz
s2,,,,,T13=1,s2_t1.mha,s2_stir.mha
s3,unlabelled,,,,,s3_t1.nii,s3_stir.nii
""")
put("manifest-csv", "minimal.csv", "id,image:T1\na,a.nii\nb,b.nii\n")

# VerSe centroid files: PIR, and flipped and permuted axis codes.
put("centroids", "pir.json", json.dumps([{"direction": ["P", "I", "R"]}, {"label": 20, "X": 10.5, "Y": 12, "Z": 8},
                                         {"label": 21, "X": 9.25, "Y": 16.5, "Z": 8.1}, {"label": 28, "X": 1, "Y": 2, "Z": 3}]))
put("centroids", "las.json", json.dumps([{"direction": ["L", "A", "S"]}, {"label": 8, "X": 3, "Y": 4, "Z": 5}, {"label": 26, "X": 0, "Y": 0, "Z": 0}]))
EOF
    touch "$seeds/done"
fi

# The targets run side by side (each one process), then each is summarised.
for t in "${run[@]}"; do
    mkdir -p "$scratch/corpus/$t" "$scratch/artifacts/$t"
    find "$scratch/artifacts/$t" -type f | wc -l >"$scratch/before-$t"
    ( nice -n 19 "$binary" "$t" -max_total_time="$seconds" -timeout=30 -rss_limit_mb=2048 -print_final_stats=1 \
        -artifact_prefix="$scratch/artifacts/$t/" "$@" "$scratch/corpus/$t" "$seeds/$t" >"$scratch/fuzz-$t.log" 2>&1
      echo $? >"$scratch/status-$t" ) &
done
wait
crashed=0
for t in "${run[@]}"; do
    log=$scratch/fuzz-$t.log status=$(cat "$scratch/status-$t")
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
    found=$(( $(find "$scratch/artifacts/$t" -type f | wc -l) - $(cat "$scratch/before-$t") ))
    echo "$t: ${runs:-?} executions in ${seconds} s, $found crash(es), exit $status (log: $log)"
    if [[ $status -ne 0 || $found -gt 0 ]]; then crashed=1; grep -m3 -E "ERROR|Fatal error|deadly signal|timeout" "$log" || true; fi
done
exit $crashed
