"""google-genai (the official Python SDK), unchanged, against `gembed serve`: models.embed_content.

Server fixes this script needed (src/server/server.ts):
- every call: google-genai 3.x calls the `v1` API by default (`/v1/models/...:batchEmbedContents`);
  the server answered only `/v1beta/...` (404). It now serves `/v1/...` as `/v1beta/...`.
"""

import asyncio
import os

from google import genai
from google.genai import errors, types

from anchor import Anchor

anchor = Anchor("genai_embed")
MODEL = "gemini-embedding-001"

# The base URL through http_options, the key as an argument (sent as x-goog-api-key).
client = genai.Client(api_key=anchor.key, http_options=types.HttpOptions(base_url=anchor.url))

one = client.models.embed_content(model=MODEL, contents="Hello world")
anchor.check(
    "models.embed_content, one text: one vector of 3072 [needed /v1 paths]",
    one.embeddings is not None and len(one.embeddings) == 1 and len(one.embeddings[0].values or []) == 3072,
)
anchor.record("one text", "Hello world", one.embeddings[0].values)

texts = [
    "Artificial intelligence was founded as an academic discipline in 1956.",
    "Alan Turing was the first person to conduct substantial research in AI.",
    "Born in Maida Vale, London, Turing was raised in southern England.",
]
many = client.models.embed_content(
    model=MODEL,
    contents=texts,
    config=types.EmbedContentConfig(
        task_type="RETRIEVAL_DOCUMENT", title="Turing", output_dimensionality=768
    ),
)
anchor.check(
    "models.embed_content, three texts with EmbedContentConfig(task_type, title, output_dimensionality=768): three vectors of 768",
    many.embeddings is not None
    and len(many.embeddings) == 3
    and all(len(e.values or []) == 768 for e in many.embeddings),
)
for text, embedding in zip(texts, many.embeddings):
    anchor.record(
        "three texts, document config",
        text,
        embedding.values,
        task_type="RETRIEVAL_DOCUMENT",
        title="Turing",
        output_dimensionality=768,
    )

# The config as a plain dict of snake_case keys, and Content objects instead of strings.
query = client.models.embed_content(
    model=f"models/{MODEL}",
    contents=[types.Content(parts=[types.Part(text="When was artificial intelligence founded")])],
    config={"task_type": "RETRIEVAL_QUERY", "output_dimensionality": 256},
)
anchor.check(
    "models.embed_content, 'models/' name, Content object, dict config {task_type: RETRIEVAL_QUERY, output_dimensionality: 256}",
    query.embeddings is not None and len(query.embeddings[0].values or []) == 256,
)
anchor.record(
    "query, dict config",
    "When was artificial intelligence founded",
    query.embeddings[0].values,
    task_type="RETRIEVAL_QUERY",
    output_dimensionality=256,
)

# What a user of the seed does: nothing but the environment (GOOGLE_GEMINI_BASE_URL and
# GEMINI_API_KEY, set by the Vitest test).
from_env = genai.Client()
env_answer = from_env.models.embed_content(model=MODEL, contents="Hello world")
anchor.check(
    "genai.Client() from GOOGLE_GEMINI_BASE_URL and GEMINI_API_KEY: the same vector",
    env_answer.embeddings is not None and env_answer.embeddings[0].values == one.embeddings[0].values,
)


async def embed_async() -> types.EmbedContentResponse:
    return await client.aio.models.embed_content(
        model=MODEL, contents=["the async client", "two texts"], config={"output_dimensionality": 128}
    )


async_answer = asyncio.run(embed_async())
anchor.check(
    "client.aio.models.embed_content: two vectors of 128",
    async_answer.embeddings is not None
    and [len(e.values or []) for e in async_answer.embeddings] == [128, 128],
)
anchor.record("async", "the async client", async_answer.embeddings[0].values, output_dimensionality=128)

# gemini-embedding-2 is multimodal: the SDK merges a list of strings into ONE content (one
# vector, as the real service answers); a list of Content objects gives one vector each.
merged = client.models.embed_content(model="gemini-embedding-2", contents=["one", "two"])
anchor.check(
    "gemini-embedding-2 with a list of 2 strings: ONE vector (the SDK sends one content of 2 parts)",
    merged.embeddings is not None and len(merged.embeddings) == 1,
    merged,
)
anchor.record("gemini-embedding-2, merged", "one\ntwo", merged.embeddings[0].values, model="gemini-embedding-2")
separate = client.models.embed_content(
    model="gemini-embedding-2",
    contents=[types.Content(parts=[types.Part(text=text)]) for text in ["one", "two"]],
)
anchor.check(
    "gemini-embedding-2 with a list of 2 Content objects: two vectors",
    separate.embeddings is not None and len(separate.embeddings) == 2,
    separate,
)
anchor.record("gemini-embedding-2, own content", "two", separate.embeddings[1].values, model="gemini-embedding-2")

model = client.models.get(model=MODEL)
anchor.check(
    "models.get: gemini-embedding-001, input limit 2048",
    model.name == f"models/{MODEL}" and model.input_token_limit == 2048,
    model,
)

# Errors come back as the SDK's typed errors, with the real service's codes.
# Kept in a variable: a Client that is garbage-collected closes its HTTP connection pool.
wrong_key = genai.Client(api_key="not-the-key", http_options={"base_url": anchor.url})
try:
    wrong_key.models.embed_content(model=MODEL, contents="x")
    raise AssertionError("a wrong key was accepted")
except errors.ClientError as error:
    anchor.check(
        "a wrong key: ClientError 400 INVALID_ARGUMENT 'API key not valid', the key not echoed",
        error.code == 400
        and error.status == "INVALID_ARGUMENT"
        and "API key not valid" in (error.message or "")
        and "not-the-key" not in str(error),
        error,
    )

try:
    client.models.embed_content(model="gemini-embedding-exp-03-07", contents="x")
    raise AssertionError("the retired model answered")
except errors.ClientError as error:
    anchor.check(
        "the seed's default model, gemini-embedding-exp-03-07 (retired): ClientError 404 NOT_FOUND",
        error.code == 404 and error.status == "NOT_FOUND",
        error,
    )

try:
    client.models.embed_content(model=MODEL, contents="x", config={"output_dimensionality": 5})
    raise AssertionError("output_dimensionality 5 was accepted")
except errors.ClientError as error:
    anchor.check(
        "output_dimensionality 5: ClientError 400 naming the field",
        error.code == 400 and "output_dimensionality" in (error.message or "").replace("outputDimensionality", "output_dimensionality"),
        error,
    )

anchor.finish()
