"""pymilvus-model's GeminiEmbeddingFunction (the seed's class), unchanged, against `gembed serve`:
what a user of it meets with today's models. Each check is a finding for docs/embedding-function.md.

The class builds `genai.Client(api_key=api_key, **kwargs)` and calls
`client.models.embed_content(model=model_name, contents=texts, config=config)`, so it needed the
same server fix as google-genai itself: the `/v1/...` paths.
"""

import numpy as np
from google.genai import errors, types
from pymilvus import model

from anchor import Anchor

anchor = Anchor("pymilvus_findings")
DOCS = [
    "Artificial intelligence was founded as an academic discipline in 1956.",
    "Alan Turing was the first person to conduct substantial research in AI.",
    "Born in Maida Vale, London, Turing was raised in southern England.",
]
QUERY = "When was artificial intelligence founded"

# 1. The default model is the retired gemini-embedding-exp-03-07: a 404 at the first call.
default_model = model.dense.GeminiEmbeddingFunction(api_key=anchor.key)
try:
    default_model.encode_documents(DOCS)
    raise AssertionError("the retired default model answered")
except errors.ClientError as error:
    anchor.check(
        "default model_name gemini-embedding-exp-03-07 (retired): encode_documents raises ClientError 404 NOT_FOUND",
        error.code == 404 and error.status == "NOT_FOUND",
        error,
    )

# 2. A current model without config: vectors come back, `dim` raises KeyError('dim').
current = model.dense.GeminiEmbeddingFunction(model_name="gemini-embedding-001", api_key=anchor.key)
vectors = current.encode_documents(DOCS)
anchor.check(
    "gemini-embedding-001 without config: encode_documents returns 3 float64 arrays of shape (3072,) [needed /v1 paths]",
    len(vectors) == 3 and all(v.shape == (3072,) and v.dtype == np.float64 for v in vectors),
)
try:
    current.dim
    raise AssertionError("dim answered for gemini-embedding-001")
except KeyError as error:
    anchor.check("gemini-embedding-001 without config: .dim raises KeyError('dim') (its table lacks the model)", error.args == ("dim",))
for text, vector in zip(DOCS, vectors):
    anchor.record("seed class, no config", text, vector.tolist())

# 3. What works: config with output_dimensionality gives `dim`; kwargs reach genai.Client.
with_config = model.dense.GeminiEmbeddingFunction(
    model_name="gemini-embedding-001",
    api_key=anchor.key,
    config=types.EmbedContentConfig(output_dimensionality=768),
    http_options={"base_url": anchor.url},
)
small = with_config.encode_documents(DOCS)
anchor.check(
    "config=EmbedContentConfig(output_dimensionality=768), http_options as a kwarg: dim 768, shape (768,)",
    with_config.dim == 768 and all(v.shape == (768,) for v in small),
)
norms = [float(np.linalg.norm(v)) for v in small]
anchor.check(
    f"the 768 vectors are not normalized (norms {', '.join(f'{n:.3f}' for n in norms)}): normalize before COSINE/IP",
    all(abs(n - 1) > 0.01 for n in norms),
    norms,
)
full_norm = float(np.linalg.norm(vectors[0]))
anchor.check(f"the 3072 vector is normalized (norm {full_norm:.6f})", abs(full_norm - 1) < 1e-6, full_norm)

# 4. encode_queries and encode_documents send the same request: no RETRIEVAL_QUERY /
#    RETRIEVAL_DOCUMENT task type, so a query is embedded exactly like a document.
as_query = current.encode_queries([DOCS[0]])[0]
anchor.check(
    "encode_queries([text]) equals encode_documents([text]): no query/document task type is sent",
    np.array_equal(as_query, vectors[0]),
)
query_vector = current.encode_queries([QUERY])[0]
anchor.record("seed class, query, no task type", QUERY, query_vector.tolist())
# A task type only comes from config, and then both methods use it.
typed = model.dense.GeminiEmbeddingFunction(
    model_name="gemini-embedding-001",
    api_key=anchor.key,
    config=types.EmbedContentConfig(task_type="RETRIEVAL_QUERY"),
)
typed_document = typed.encode_documents([DOCS[0]])[0]
anchor.check(
    "config task_type=RETRIEVAL_QUERY applies to encode_documents too: the document is embedded as a query",
    np.array_equal(typed_document, typed.encode_queries([DOCS[0]])[0])
    and not np.array_equal(typed_document, vectors[0]),
)
anchor.record("seed class, document embedded as a query", DOCS[0], typed_document.tolist(), task_type="RETRIEVAL_QUERY")

# 5. Nothing is split into calls of 100: 101 texts are one call, refused by the API's limit.
try:
    current.encode_documents([f"text {index}" for index in range(101)])
    raise AssertionError("101 texts were accepted in one call")
except errors.ClientError as error:
    anchor.check(
        "101 texts: ClientError 400 'at most 100 requests can be in one batch' (the class does not split)",
        error.code == 400 and "at most 100 requests" in (error.message or ""),
        error,
    )

anchor.finish()
