"""A local HTTP test double for Secrets Manager's GetSecretValue and DescribeSecret.

The handler reads SQL seed parameters from a secret at run time with an ordinary boto3
``secretsmanager`` client, so this endpoint speaks the real JSON 1.1 protocol: ``POST /`` with
``X-Amz-Target: secretsmanager.<Operation>`` and a JSON body, answered in
``application/x-amz-json-1.1``, errors as ``{"__type": code, "Message": text}``. The target
prefix, JSON version, member names, constraints and error shapes are read from botocore's service
model. The model gives no HTTP statuses: every error is 400 but ``InternalServiceError`` (500),
as the service answers; the unmodeled codes (``AccessDeniedException``, ``ThrottlingException``,
``ValidationException``, ``UnknownOperationException``) are written by hand::

    with SecretsManagerEndpoint() as endpoint:
        arn = endpoint.add_secret("seeds/params", secret_string='{"day": "2024-05-01"}')
        endpoint.inject("GetSecretValue", SecretsManagerFault.throttle(), times=1)

``local_endpoint()`` runs one (:func:`running`) behind ``AWS_ENDPOINT_URL_SECRETS_MANAGER``.
"""

from __future__ import annotations

import base64
import json
import random
import string
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from functools import cache
from typing import Any

import botocore.session  # type: ignore[import-untyped, unused-ignore]
from cleanrooms_ml_endpoint import DEFAULT_ACCOUNT_ID, DEFAULT_REGION, Fault, validate
from local_http import Answer, JsonDict, LocalHttpEndpoint, LocalHttpHandler, ServiceError

SERVICE_NAME = "secretsmanager"
INTERNAL_ERROR = "InternalServiceError"  # the model's server-side error shape
NOT_FOUND = "ResourceNotFoundException"
_MAX_BODY_BYTES = 1024 * 1024
_SUFFIX_CHARACTERS = string.ascii_letters + string.digits


@cache
def service_model() -> Any:
    """botocore's ServiceModel for Secrets Manager (loaded once)."""
    return botocore.session.get_session().get_service_model(SERVICE_NAME)


def error_status(code: str) -> int:
    """The service's status for an error code: 500 for InternalServiceError, else 400."""
    return 500 if code == INTERNAL_ERROR else 400


def _utcnow() -> datetime:
    return datetime.now(timezone.utc)


class SecretsManagerError(ServiceError):
    """An error answered as a JSON 1.1 error document."""

    def __init__(self, code: str, message: str, status: int | None = None) -> None:
        super().__init__(code, message, status if status is not None else error_status(code))


class SecretsManagerFault(Fault):
    """Faults with Secrets Manager's codes and statuses (the model has none to look up)."""

    @staticmethod
    def throttle(message: str = "Rate exceeded") -> Fault:
        """``ThrottlingException`` (400), which botocore retries as throttling."""
        return Fault("error", 400, "ThrottlingException", message)

    @staticmethod
    def access_denied(message: str = "Not authorized to perform this action") -> Fault:
        """``AccessDeniedException`` (400)."""
        return Fault("error", 400, "AccessDeniedException", message)

    @staticmethod
    def server_error(status: int = 500, code: str = INTERNAL_ERROR) -> Fault:
        """A 5xx instead of an answer (botocore retries it)."""
        return Fault.server_error(status, code)

    @staticmethod
    def after_success(status: int = 500, code: str = INTERNAL_ERROR) -> Fault:
        """Look the secret up, then answer a 5xx anyway."""
        return Fault.after_success(status, code)

    @staticmethod
    def error(code: str, status: int | None = None, message: str = "Injected error") -> Fault:
        """Any error; ``status`` defaults to :func:`error_status`."""
        return Fault("error", status if status is not None else error_status(code), code, message)


# -------------------------------------------------------------------------------------- state


@dataclass
class SecretVersion:
    """One version of a secret's value, with its staging labels."""

    version_id: str
    stages: list[str]
    secret_string: str | None = None
    secret_binary: bytes | None = None
    created: datetime = field(default_factory=_utcnow)


@dataclass
class SecretRecord:
    """A secret: its versions in creation order, and the errors a test made it answer."""

    arn: str
    name: str
    kms_key_id: str | None
    created: datetime = field(default_factory=_utcnow)
    last_changed: datetime = field(default_factory=_utcnow)
    versions: dict[str, SecretVersion] = field(default_factory=dict)
    denials: dict[str, SecretsManagerError] = field(default_factory=dict)  # by operation


def to_json(value: Any, shape: Any) -> Any:
    """A python value (member names as keys) as JSON 1.1: epoch-second timestamps, base64 blobs."""
    kind = shape.type_name
    if kind == "structure":
        return {
            shape.members[name].serialization.get("name", name): to_json(item, shape.members[name])
            for name, item in value.items()
            if item is not None
        }
    if kind == "list":
        return [to_json(item, shape.member) for item in value]
    if kind == "map":
        return {key: to_json(item, shape.value) for key, item in value.items()}
    if kind == "timestamp":
        return value.timestamp()
    if kind == "blob":
        return base64.b64encode(value).decode()
    return value


def _json_answer(status: int, document: JsonDict) -> Answer:
    content_type = f"application/x-amz-json-{service_model().metadata['jsonVersion']}"
    headers = {"Content-Type": content_type, "x-amzn-RequestId": str(uuid.uuid4())}
    return status, headers, json.dumps(document).encode()


# ------------------------------------------------------------------------------ the endpoint


def running() -> SecretsManagerEndpoint | None:
    """The endpoint started last that still runs (the one ``local_endpoint()`` points at)."""
    return SecretsManagerEndpoint.running()


class _Handler(LocalHttpHandler):
    """JSON 1.1: POST to ``/`` only."""

    server_version = "SecretsManagerTestDouble/1.0"
    max_body_bytes = _MAX_BODY_BYTES
    do_POST = LocalHttpHandler.serve


class SecretsManagerEndpoint(LocalHttpEndpoint):
    """A threaded local HTTP server answering GetSecretValue and DescribeSecret."""

    handler = _Handler
    thread_name = "secretsmanager"
    internal_error = INTERNAL_ERROR
    bad_request = "ValidationException"

    def __init__(
        self,
        *,
        region: str = DEFAULT_REGION,
        account_id: str = DEFAULT_ACCOUNT_ID,
        validate_responses: bool = __debug__,
    ) -> None:
        super().__init__(
            {"GetSecretValue": self._get_secret_value, "DescribeSecret": self._describe_secret}
        )
        self.region, self.account_id = region, account_id
        self.validate_responses = validate_responses
        self._secrets: dict[str, SecretRecord] = {}  # by ARN
        self._broken_keys: dict[str, SecretsManagerError] = {}  # by KMS key id
        self.target_prefix: str = service_model().metadata["targetPrefix"]

    # ------------------------------------------------------------------------ test controls

    def add_secret(
        self,
        name: str,
        *,
        secret_string: str | None = None,
        secret_binary: bytes | None = None,
        kms_key_id: str | None = None,
    ) -> str:
        """Create a secret (with an AWSCURRENT version if given a value); returns its ARN."""
        if secret_string is not None and secret_binary is not None:
            raise ValueError("a secret value is a string or binary, not both")
        shape = service_model().operation_model("CreateSecret").input_shape
        request = {"Name": name, "SecretString": secret_string, "KmsKeyId": kms_key_id}
        problems = validate({k: v for k, v in request.items() if v is not None}, shape)
        if problems:
            raise ValueError("; ".join(problems))
        suffix = "".join(random.choices(_SUFFIX_CHARACTERS, k=6))
        arn = f"arn:aws:secretsmanager:{self.region}:{self.account_id}:secret:{name}-{suffix}"
        with self._lock:
            if any(secret.name == name for secret in self._secrets.values()):
                raise ValueError(f"a secret named {name!r} exists")
            self._secrets[arn] = SecretRecord(arn, name, kms_key_id)
        if secret_string is not None or secret_binary is not None:
            self.put_secret_value(arn, secret_string, secret_binary=secret_binary)
        return arn

    def put_secret_value(
        self,
        arn_or_name: str,
        secret_string: str | None = None,
        *,
        secret_binary: bytes | None = None,
    ) -> str:
        """A new AWSCURRENT version (the old one becomes AWSPREVIOUS); returns its VersionId."""
        if (secret_string is None) == (secret_binary is None):
            raise ValueError("give secret_string or secret_binary")
        version_id = str(uuid.uuid4())
        with self._lock:
            secret = self._secret(arn_or_name)
            for version in secret.versions.values():
                version.stages = [s for s in version.stages if s != "AWSPREVIOUS"]
                if "AWSCURRENT" in version.stages:
                    version.stages = [
                        "AWSPREVIOUS" if s == "AWSCURRENT" else s for s in version.stages
                    ]
            new = SecretVersion(version_id, ["AWSCURRENT"], secret_string, secret_binary)
            secret.versions[version_id] = new
            secret.last_changed = new.created
        return version_id

    def deny(
        self,
        arn_or_name: str,
        code: str = "AccessDeniedException",
        message: str | None = None,
        *,
        operation: str = "GetSecretValue",
    ) -> None:
        """Answer every later ``operation`` on this secret with an error (IAM's, by default)."""
        with self._lock:
            secret = self._secret(arn_or_name)
            action = f"secretsmanager:{operation}"
            message = message or (
                f"User: arn:aws:sts::{self.account_id}:assumed-role/handler/handler is not "
                f"authorized to perform: {action} on resource: {secret.arn} because no "
                f"identity-based policy allows the {action} action"
            )
            secret.denials[operation] = SecretsManagerError(code, message)

    def disable_kms_key(self, kms_key_id: str) -> None:
        """GetSecretValue of a secret under this key fails with DecryptionFailure."""
        message = (
            "Secrets Manager can't decrypt the protected secret text using the provided KMS key. "
            f"The KMS key {kms_key_id} is disabled."
        )
        with self._lock:
            self._broken_keys[kms_key_id] = SecretsManagerError("DecryptionFailure", message)

    def deny_kms_key(self, kms_key_id: str) -> None:
        """GetSecretValue of a secret under this key is refused as the service words it when
        the caller may not kms:Decrypt."""
        denied = SecretsManagerError("AccessDeniedException", "Access to KMS is not allowed")
        with self._lock:
            self._broken_keys[kms_key_id] = denied

    # --------------------------------------------------------------------- request handling

    def handle_request(self, target: str, body: bytes) -> Answer:
        """Answer one request by its X-Amz-Target and body (also without the server)."""
        return self._guarded(target or "<no target>", lambda: self._handle(target, body))

    def _answer(self, method: str, target: str, body: bytes) -> Answer:
        return self._answer_with_headers(method, target, {}, body)

    def _answer_with_headers(
        self, method: str, target: str, headers: dict[str, str], body: bytes
    ) -> Answer:
        if target.split("?", 1)[0] != "/":
            message = f"No route: {method} {target}"
            return self._error_answer(SecretsManagerError("UnknownOperationException", message))
        return self.handle_request(headers.get("x-amz-target", ""), body)

    def _handle(self, target: str, body: bytes) -> Answer:
        prefix, _, operation = target.partition(".")
        if prefix != self.target_prefix or operation not in self._operations:
            self._log_call(operation or target, {})
            message = f"{target!r} is not an operation the double serves"
            return self._error_answer(SecretsManagerError("UnknownOperationException", message))
        try:
            params = json.loads(body or b"{}")
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            params = exc
        if not isinstance(params, dict):
            self._log_call(operation, {})
            message = f"Request body is not a JSON object: {params!r}"
            return self._error_answer(SecretsManagerError("SerializationException", message))
        problems = validate(params, service_model().operation_model(operation).input_shape)
        fault = self._log_call(operation, params)
        return self._carry_out(fault, operation, params, problems)

    def _success_answer(self, operation: str, result: JsonDict) -> Answer:
        shape = service_model().operation_model(operation).output_shape
        problems = validate(result, shape) if self.validate_responses else []
        if problems:
            raise AssertionError(f"{operation} response drifted from the model: {problems}")
        return _json_answer(200, to_json(result, shape))

    def _error_answer(self, error: ServiceError) -> Answer:
        model, document = service_model(), {"Message": error.message}
        if self.validate_responses and error.code in model.shape_names:
            problems = validate(document, model.shape_for(error.code))
            if problems:
                raise AssertionError(f"{error.code} drifted from the model: {problems}")
        return _json_answer(error.status, {"__type": error.code, **document})

    # ------------------------------------------------------------ operations (lock is held)

    def _secret(self, secret_id: str) -> SecretRecord:
        """By ARN, by name, or by partial ARN (the ARN without its ``-XXXXXX`` suffix)."""
        for secret in self._secrets.values():
            if secret_id in (secret.arn, secret.name, secret.arn[:-7]):
                return secret
        raise SecretsManagerError(NOT_FOUND, "Secrets Manager can't find the specified secret.")

    def _allowed(self, secret_id: str, operation: str) -> SecretRecord:
        secret = self._secret(secret_id)
        if operation in secret.denials:
            raise secret.denials[operation]
        return secret

    def _get_secret_value(self, params: JsonDict) -> JsonDict:
        secret = self._allowed(params["SecretId"], "GetSecretValue")
        version_id, stage = params.get("VersionId"), params.get("VersionStage")
        not_found = "Secrets Manager can't find the specified secret value for"
        if version_id is not None:
            version = secret.versions.get(version_id)
            if version is None:
                raise SecretsManagerError(NOT_FOUND, f"{not_found} VersionId: {version_id}")
            if stage is not None and stage not in version.stages:  # moto's answer; AWS's unknown
                message = (
                    "You provided a VersionStage that is not associated to the provided VersionId."
                )
                raise SecretsManagerError("InvalidRequestException", message)
        else:
            stage = stage or "AWSCURRENT"
            staged = [v for v in secret.versions.values() if stage in v.stages]
            if not staged:
                raise SecretsManagerError(NOT_FOUND, f"{not_found} staging label: {stage}")
            version = staged[0]
        if secret.kms_key_id in self._broken_keys:
            raise self._broken_keys[secret.kms_key_id]
        return {
            "ARN": secret.arn,
            "Name": secret.name,
            "VersionId": version.version_id,
            "SecretString": version.secret_string,
            "SecretBinary": version.secret_binary,
            "VersionStages": list(version.stages) or None,  # none: a deprecated version
            "CreatedDate": version.created,
        }

    def _describe_secret(self, params: JsonDict) -> JsonDict:
        secret = self._allowed(params["SecretId"], "DescribeSecret")
        staged = {v.version_id: list(v.stages) for v in secret.versions.values() if v.stages}
        return {
            "ARN": secret.arn,
            "Name": secret.name,
            "KmsKeyId": secret.kms_key_id,
            "LastChangedDate": secret.last_changed,
            "CreatedDate": secret.created,
            "VersionIdsToStages": staged or None,
        }
