"""The one settings tree. Built once by `create_app()` or a command's `main()` and passed down.

Environment variables use the prefix `VRAAGBAAK_` and `__` between a group and its field
(`VRAAGBAAK_RETRIEVAL__TOP_K=8`). The well-known names `QDRANT_URL`, `QDRANT_API_KEY`,
`LLM_BASE_URL`, `LLM_API_KEY` and `LLM_MODEL` are accepted too. Every field is documented in
docs/deployment.md (a test checks that).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

WELL_KNOWN_ENV = {
    "QDRANT_URL": ("store", "url"),
    "QDRANT_API_KEY": ("store", "api_key"),
    "LLM_BASE_URL": ("llm", "base_url"),
    "LLM_API_KEY": ("llm", "api_key"),
    "LLM_MODEL": ("llm", "model"),
    "DATABASE_URL": ("database", "url"),
}


class StoreSettings(BaseModel):
    """Where chunks and vectors live: embedded Qdrant by default, a server or cluster by URL."""

    url: str | None = Field(None, description="Qdrant server or cluster URL; unset = embedded local mode.")
    api_key: SecretStr | None = Field(None, description="API key for the Qdrant server.")
    path: Path | None = Field(None, description="Folder of the embedded store; default DATA_DIR/qdrant.")
    collection: str = Field("vraagbaak", description="Collection name.")
    timeout_s: float = Field(10.0, description="Timeout of one request to a Qdrant server, seconds.")
    shard_number: int | None = Field(
        None, ge=1, le=1000, description="Server only, at collection creation: shards of the collection; unset = Qdrant's default (one per node).")
    replication_factor: int | None = Field(
        None, ge=1, le=100, description="Server only, at collection creation: copies of each shard on different cluster nodes; unset = 1.")
    on_disk: bool = Field(False, description="Server only, at collection creation: keep the original dense vectors on disk (memory-mapped) instead of in RAM.")
    on_disk_payload: bool = Field(False, description="Server only, at collection creation: keep payloads (chunk text, metadata) on disk instead of in RAM.")
    quantization: Literal["none", "int8"] = Field(
        "none", description="Server only, at collection creation: `int8` = scalar quantization of the dense vectors, kept in RAM (4× smaller), originals used to rescore.")


class EmbeddingSettings(BaseModel):
    """The dense embedding model."""

    model: str = Field(
        "multilingual-e5-small",
        description="A prepared model name, a sentence-transformers folder, `all-minilm-l6-v2`, or a hub id.",
    )
    models_dir: Path | None = Field(None, description="Folder of prepared models; default DATA_DIR/models.")
    batch_size: int = Field(32, ge=1, le=1024, description="Passages embedded per batch.")
    dtype: Literal["float32", "bfloat16"] = Field("float32", description="Weights' precision on CPU.")
    max_seq_length: int = Field(512, ge=16, le=8192, description="Tokens per passage the model reads.")
    query_prompt: str = Field("query: ", description="Prefix of questions (e5 models expect `query: `).")
    passage_prompt: str = Field("passage: ", description="Prefix of passages (e5 models expect `passage: `).")
    backend: Literal["onnx", "torch"] = Field(
        "onnx", description="`onnx`: the model exported once to ONNX and run by onnxruntime (same vectors, no GIL "
                            "during the forward pass; docs/performance.md); `torch`: sentence-transformers through "
                            "LlamaIndex's HuggingFace integration (also used for bfloat16 and hub ids).",
    )
    threads: int = Field(0, ge=0, le=256, description="onnxruntime threads per forward pass (0 = one per core).")


class IngestSettings(BaseModel):
    """How documents are parsed and cut into chunks."""

    chunk_words: int = Field(180, ge=20, le=2000, description="Target words per chunk.")
    chunk_overlap_words: int = Field(30, ge=0, le=500, description="Words repeated between split chunks.")
    max_file_mb: float = Field(100.0, gt=0, description="Files larger than this are refused.")
    default_groups: list[str] = Field(default_factory=list, description="Access groups of documents that name none; empty = everyone.")
    parse_timeout_s: float = Field(120.0, gt=0, description="Seconds one file may take to parse; longer is stopped and reported.")
    parse_memory_mb: int = Field(2048, ge=256, description="Address space of one parse worker, MB; a file needing more is reported.")
    parse_workers: int = Field(1, ge=1, le=64, description="Worker processes that parse files in parallel.")
    isolate_parsing: bool = Field(
        True, description="Parse files in worker processes with the time and memory limits below (CLI and admin jobs).",
    )
    sources_file: Path | None = Field(None, description="YAML file that configures the sources; default `sources.yml` in the working folder if it exists.")
    schedule_tick_s: float = Field(30.0, gt=0, le=3600, description="How often the web app's scheduler looks for sources whose `schedule_minutes` have passed, seconds.")
    worker: Literal["embedded", "external"] = Field(
        "embedded", description="`embedded`: the web app runs ingestion jobs in a thread of its own; `external`: it only queues them for `vraagbaak worker` processes.")
    heartbeat_s: float = Field(5.0, gt=0, le=600, description="How often a worker marks its running job as alive, seconds.")
    heartbeat_timeout_s: float = Field(
        60.0, gt=0, le=86400, description="A running job whose worker has not marked it alive for this long is marked interrupted (its worker died), seconds.")


class RetrievalSettings(BaseModel):
    """Hybrid retrieval: dense and BM25 candidates fused with reciprocal rank fusion in Qdrant."""

    mode: Literal["hybrid", "dense", "bm25"] = Field("hybrid", description="Which retriever answers questions.")
    top_k: int = Field(6, ge=1, le=100, description="Passages handed to the answer generator.")
    candidates: int = Field(40, ge=1, le=1000, description="Candidates per retriever before fusion.")
    rrf_k: int = Field(2, ge=1, le=1000, description="Reciprocal rank fusion constant (Qdrant's default is 2).")
    cross_lingual_weight: float = Field(
        0.7, ge=0, le=5,
        description="Weight of the extra dense list over passages in other languages than the question (0 = off).",
    )
    window_weight: float = Field(
        0.5, ge=0, le=5,
        description="Weight of the document-level list in hybrid retrieval: the windows of consecutive chunks (about 400 words) nearest to the question vote for their chunks in the order of documents (the closest documents offered with a refusal, the retrieval evaluation); answers are made from the chunk lists' own order. Windows are built at ingest only while it is above 0; switched on, the next ingest of each source adds them from the stored chunks (0 = off, nothing built or searched; docs/assistant.md \"Windows\").")
    include_stale: bool = Field(
        False, description="Answer from expired, superseded or not yet effective documents too (default: only documents in force).",
    )
    source_boosts: dict[str, float] = Field(
        default_factory=dict,
        description='Multiplier of the fused score per source id, e.g. `{"policies": 1.3, "old-intranet": 0.8}` (applied before the cut).',
    )
    dedupe: bool = Field(True, description="Drop passages that nearly repeat a better-ranked one (same paragraph in two documents or versions).")
    duplicate_similarity: float = Field(
        0.8, ge=0.1, le=1, description="Word-shingle Jaccard similarity from which two passages count as near duplicates.")
    merge_neighbours: bool = Field(
        False, description="Join retrieved chunks that follow each other in one document into one passage for the generator.")
    reranker: Literal["none", "cross-encoder", "llm"] = Field(
        "none", description="Reorder the top passages: `cross-encoder` (a local sentence-transformers model), `llm` (the LLM server) or `none`.")
    reranker_model: Path | None = Field(None, description="Folder of the cross-encoder model (reranker = cross-encoder).")
    rerank_top_n: int = Field(10, ge=1, le=100, description="Passages the reranker reorders (the rest keep their order behind them).")
    rerank_timeout_s: float = Field(20.0, gt=0, le=600, description="Longest wait for the LLM reranker; then the original order is kept.")


class AnswerSettings(BaseModel):
    """The answer generator and when to refuse."""

    generator: Literal["auto", "extractive", "llm"] = Field(
        "auto", description="`extractive` (offline), `llm` (needs LLM_BASE_URL), or `auto`: llm when LLM_BASE_URL is set."
    )
    max_sentences: int = Field(3, ge=1, le=10, description="Most sentences in an extractive answer.")
    sentence_cache: int = Field(
        10_000, ge=0, le=1_000_000, description="Candidate-sentence vectors the extractive generator keeps per process (about 1.7 KB each), so a passage asked about again is not embedded again; 0 = off.")
    min_relevance: float = Field(0.52, description="Least evidence score (0..1) for a sentence to count as an answer.")
    verify: bool = Field(True, description="Check every answer sentence against the passage it cites (assistant/verify.py).")
    llm_check: bool = Field(
        True, description="With `generator=extractive` and an LLM configured (LLM_BASE_URL): ask the LLM whether the quoted passages answer the question; its judgement decides with the evidence (docs/assistant.md, \"LLM answer check\").")
    llm_check_margin: float = Field(
        1.0, ge=0, le=2, description="Ask the LLM only about answers whose confidence is below `min_relevance` + this margin (1.0: every answer).")
    llm_check_weight: float = Field(
        0.2, ge=0, le=2, description="How far the LLM answer check's judgement moves the confidence: by this times the log-odds of its probability of YES (servers that give token probabilities; docs/assistant.md, \"LLM answer check\").")
    llm_check_floor: float = Field(
        0.3, gt=0, le=2, description="Least confidence for an answer to be put to the LLM answer check at all (below it the evidence refuses alone).")
    llm_check_bar: float = Field(
        0.7, ge=0, le=2, description="Least confidence plus judgement for an answer the LLM answer check was asked about (servers without token probabilities: `min_relevance` and a YES).")
    min_support: float = Field(
        0.5, ge=0, le=1, description="Least support score (0..1) of an answer sentence by its cited passage.")
    unsupported: Literal["remove", "flag"] = Field(
        "remove", description="What happens to a sentence below `min_support`: `remove` it, or `flag` it (kept, marked).")
    min_supported_sentences: int = Field(
        1, ge=1, le=10, description="Fewest supported sentences an answer needs; fewer → refused as `unsupported`.")
    pseudonym_secret: SecretStr | None = Field(
        None, description="Key of the HMAC that turns user ids into pseudonyms in answer records; unset = a random key kept in DATA_DIR/pseudonym.key.")


class LLMSettings(BaseModel):
    """An OpenAI-compatible LLM server (vLLM, Ollama, llama.cpp, a hosted API)."""

    base_url: str | None = Field(None, description="Base URL of the OpenAI-compatible API, e.g. http://localhost:8080/v1.")
    api_key: SecretStr | None = Field(None, description="API key for the LLM server.")
    model: str = Field("default", description="Model name sent to the server.")
    timeout_s: float = Field(60.0, gt=0, description="Seconds to wait for the LLM.")
    temperature: float = Field(0.1, ge=0, le=2, description="Sampling temperature.")
    max_tokens: int = Field(400, ge=16, le=8192, description="Most tokens in an LLM answer.")


class WebSettings(BaseModel):
    """The web app."""

    host: str = Field("127.0.0.1", description="Address the app listens on.")
    port: int = Field(8000, ge=1, le=65535, description="Port the app listens on.")
    max_question_chars: int = Field(1000, ge=10, le=20000, description="Longest question accepted.")
    admin_token: SecretStr | None = Field(
        None, description="Bearer token for the admin API (sources, ingestion jobs, document registry); unset = admin API off.",
    )


ROLES = ("employee", "compliance", "learning", "admin")
"""Employee: asks questions. Compliance: the audit log. Learning: the content-gap dashboard. Admin: sources,
jobs, the document registry, users."""


class AuthSettings(BaseModel):
    """Sign-in: local accounts, sessions, API tokens."""

    session_hours: float = Field(12.0, gt=0, le=24 * 90, description="How long a sign-in lasts without activity, hours.")
    secure_cookies: Literal["auto", "always", "never"] = Field(
        "auto", description="Mark cookies Secure: `auto` = when the request came over https (X-Forwarded-Proto from a trusted proxy counts).",
    )
    anonymous: bool = Field(False, description="Let visitors ask without signing in (they see documents open to everyone only).")
    password_min_length: int = Field(10, ge=8, le=128, description="Shortest password accepted for a local account.")
    login_attempts: int = Field(10, ge=1, le=1000, description="Failed sign-ins per account per 15 minutes before it is held back.")


class OIDCSettings(BaseModel):
    """Single sign-on with an OpenID Connect identity provider (off while `issuer` is unset)."""

    issuer: str | None = Field(None, description="The provider's issuer URL (its /.well-known/openid-configuration is read).")
    client_id: str | None = Field(None, description="Client id registered at the provider.")
    client_secret: SecretStr | None = Field(None, description="Client secret registered at the provider.")
    scopes: str = Field("openid profile email", description="Scopes asked for (add the one that releases the groups claim).")
    groups_claim: str = Field("groups", description="Claim (in the ID token or userinfo) that lists the user's access groups.")
    roles_claim: str | None = Field("roles", description="Claim that lists Vraagbaak roles; unset = every SSO user gets `default_roles`.")
    default_roles: list[str] = Field(default_factory=lambda: ["employee"], description="Roles of an SSO user whose token names none.")
    label: str = Field("Single sign-on", description="Text of the sign-in button.")
    verify_tls: bool = Field(True, description="Check the provider's TLS certificate (switch off only for a test provider).")
    redirect_uri: str | None = Field(
        None, description="The callback URL registered at the provider; unset = this site's /login/sso/callback as the request reached it.",
    )
    timeout_s: float = Field(10.0, gt=0, le=120, description="Seconds to wait for the provider (discovery, keys, token, userinfo).")
    state_secret: SecretStr | None = Field(
        None, description="Key that signs the short-lived sign-in cookie (state, nonce, PKCE verifier); unset = derived from the installation key in DATA_DIR (set it when several instances share one site).",
    )

    @field_validator("default_roles")
    @classmethod
    def _known_roles(cls, roles: list[str]) -> list[str]:
        unknown = sorted(set(roles) - set(ROLES))
        if unknown:
            raise ValueError(f"unknown role(s) {', '.join(unknown)}; roles are {', '.join(ROLES)}")
        return roles


class AuditSettings(BaseModel):
    """The compliance audit log of answer records."""

    retention_days: int | None = Field(None, ge=1, description="Answer records older than this are deleted; unset = kept.")
    record_wait_s: float = Field(
        2.0, gt=0, le=60, description="Longest an answer waits to write its record while another writer holds the database; then the answer is given and the record is kept in memory and written when the database takes writes again.")


class GapsSettings(BaseModel):
    """The learning team's content-gap dashboard."""

    low_confidence: float = Field(0.6, ge=0, le=1, description="Answers below this confidence count as content gaps.")
    distance_threshold: float = Field(
        0.76, gt=0, lt=2, description="Cosine distance (of centred question vectors) under which questions join one topic; lower = more, tighter topics.")
    match_similarity: float = Field(
        0.7, ge=0, le=1, description="Least centroid similarity for a new cluster to continue a stored topic (keeping its owner and status).")
    window_days: int = Field(365, ge=1, description="Only questions of the last this many days are clustered.")
    max_questions: int = Field(5000, ge=10, le=50_000, description="Most questions clustered (the newest); bounds memory and time.")
    recheck_limit: int = Field(10, ge=1, le=200, description="Most distinct questions per topic asked again after new content is ingested.")
    trend_weeks: int = Field(12, ge=2, le=104, description="Weeks shown in a topic's trend plot.")


class XAPISettings(BaseModel):
    """Optional xAPI statements to a Learning Record Store (off while `endpoint` is unset)."""

    endpoint: str | None = Field(None, description="The LRS's xAPI endpoint, e.g. https://lrs.example/xapi/.")
    username: str | None = Field(None, description="User name (key) for the LRS's basic authentication.")
    password: SecretStr | None = Field(None, description="Password (secret) for the LRS's basic authentication.")
    timeout_s: float = Field(10.0, gt=0, le=300, description="Seconds to wait for the LRS per request.")
    site: str | None = Field(
        None, description="This installation's public URL: the actor account's homePage and the base of activity ids; default http://WEB_HOST:WEB_PORT.")
    queue_size: int = Field(1000, ge=1, le=100_000, description="Statements waiting to be sent; when full, new ones are dropped (and logged).")


class LimitsSettings(BaseModel):
    """Rate limits on questions, feedback, exports and sign-in, and the largest request body (web/ratelimit.py).
    Kept in each process's memory: with several processes each counts apart."""

    window_s: float = Field(60.0, gt=0, le=86400, description="The window the rate limits below count in, seconds.")
    per_user: int = Field(
        30, ge=0, description="Questions (and, counted apart, answer streams, feedback, exports) per user per window; 0 = off.")
    per_ip: int = Field(
        300, ge=0, description="The same requests, and sign-in attempts, per client address per window; 0 = off.")
    sign_in_per_ip: int = Field(10, ge=0, description="Refused sign-ins per client address per window before it is held back; 0 = off.")
    max_body_kb: int = Field(1024, ge=0, description="Largest request body, KB; larger gets 413; 0 = no limit.")


class DatabaseSettings(BaseModel):
    """The application database (document registry, jobs): SQLite by default, Postgres by URL."""

    url: str | None = Field(None, description="SQLAlchemy URL, e.g. postgresql+psycopg://user:pw@host/db; default sqlite in DATA_DIR.")


class _WellKnownEnv(PydanticBaseSettingsSource):
    """Reads QDRANT_URL, LLM_BASE_URL and friends into their groups."""

    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:  # pragma: no cover - unused
        return None, field_name, False

    def __call__(self) -> dict[str, Any]:
        values: dict[str, Any] = {}
        for env, (group, name) in WELL_KNOWN_ENV.items():
            if os.environ.get(env):
                values.setdefault(group, {})[name] = os.environ[env]
        return values


class Settings(BaseSettings):
    """Everything Vraagbaak can be told. See docs/deployment.md for each field."""

    model_config = SettingsConfigDict(env_prefix="VRAAGBAAK_", env_nested_delimiter="__", extra="ignore",
                                      env_file=".env", env_file_encoding="utf-8")

    data_dir: Path = Field(Path("data"), description="Folder for the embedded store, models and state.")
    log_level: str = Field("INFO", description="Log level.")
    store: StoreSettings = Field(default_factory=StoreSettings)
    embedding: EmbeddingSettings = Field(default_factory=EmbeddingSettings)
    ingest: IngestSettings = Field(default_factory=IngestSettings)
    retrieval: RetrievalSettings = Field(default_factory=RetrievalSettings)
    answer: AnswerSettings = Field(default_factory=AnswerSettings)
    llm: LLMSettings = Field(default_factory=LLMSettings)
    web: WebSettings = Field(default_factory=WebSettings)
    database: DatabaseSettings = Field(default_factory=DatabaseSettings)
    auth: AuthSettings = Field(default_factory=AuthSettings)
    oidc: OIDCSettings = Field(default_factory=OIDCSettings)
    audit: AuditSettings = Field(default_factory=AuditSettings)
    gaps: GapsSettings = Field(default_factory=GapsSettings)
    xapi: XAPISettings = Field(default_factory=XAPISettings)
    limits: LimitsSettings = Field(default_factory=LimitsSettings)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return init_settings, env_settings, _WellKnownEnv(settings_cls), dotenv_settings, file_secret_settings

    @property
    def store_path(self) -> Path:
        """Folder of the embedded Qdrant store."""
        return self.store.path or self.data_dir / "qdrant"

    @property
    def database_url(self) -> str:
        """SQLAlchemy URL of the application database."""
        return self.database.url or f"sqlite:///{(self.data_dir / 'vraagbaak.db').resolve()}"

    @property
    def sources_file(self) -> Path | None:
        """The sources file, if one is configured or `sources.yml` exists here."""
        if self.ingest.sources_file:
            return self.ingest.sources_file
        default = Path("sources.yml")
        return default if default.exists() else None

    @property
    def models_dir(self) -> Path:
        """Folder of prepared models."""
        return self.embedding.models_dir or self.data_dir / "models"


def env_names() -> list[str]:
    """Every environment variable a setting can be given by (the docs check uses it)."""
    names: list[str] = []
    for name, field in Settings.model_fields.items():
        annotation = field.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            names += [f"VRAAGBAAK_{name.upper()}__{sub.upper()}" for sub in annotation.model_fields]
        else:
            names.append(f"VRAAGBAAK_{name.upper()}")
    return names + list(WELL_KNOWN_ENV)
