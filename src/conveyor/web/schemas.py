"""The web API's parameters, declared once as data.

Each action lists its parameters as :class:`Param` values. The same
declaration checks a request (:func:`validate`) and describes it in the
OpenAPI document (:meth:`Kind.schema`), so what is documented and what is
accepted cannot drift apart: a value the schema allows is parsed, a value it
forbids is refused with a message that names the field.

Values arrive in two shapes: JSON (a POST body), where types are JSON's, and
query strings (a GET), where every value is text.
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from conveyor.exceptions import ValidationError

JsonSchema = dict[str, Any]

#: Keys of an error object that a parameter name must not overwrite.
RESERVED_ERROR_KEYS = frozenset({"__type", "message"})
#: Strings accepted as booleans (in any case, as the reference's boolean_validator takes
#: them), beside JSON's true and false.
TRUE_WORDS = ("true", "yes", "t", "y", "1")
FALSE_WORDS = ("false", "no", "f", "n", "0")


def _any_case(words: Sequence[str]) -> str:
    """A pattern matching exactly ``words``, in any case (JSON Schema patterns have no flags)."""
    spelled = (
        "".join(f"[{c.lower()}{c.upper()}]" if c.isalpha() else re.escape(c) for c in word)
        for word in words
    )
    return f"^({'|'.join(spelled)})$"


class FieldError(Exception):
    """One parameter's problem; the message is what the caller reads."""


def shown(value: object, width: int = 60) -> str:
    """A short repr of a caller's value, for an error message."""
    text = repr(value)
    return text if len(text) <= width else text[: width - 3] + "..."


class Kind(ABC):
    """The type of a parameter: its JSON schema and its parser."""

    @abstractmethod
    def schema(self, *, query: bool) -> JsonSchema:
        """The JSON schema of the values accepted (in a query string if ``query``)."""

    @abstractmethod
    def parse(self, value: object, *, query: bool) -> Any:
        """The value as the action uses it; FieldError if the schema does not allow it."""


@dataclass(frozen=True)
class Text(Kind):
    """A non-empty string of at most ``max_length`` characters."""

    max_length: int

    def schema(self, *, query: bool) -> JsonSchema:
        return {"type": "string", "minLength": 1, "maxLength": self.max_length}

    def parse(self, value: object, *, query: bool) -> str:
        if not isinstance(value, str):
            raise FieldError(f"Not a string: {shown(value)}")
        if not value:
            raise FieldError("Must not be empty")
        if len(value) > self.max_length:
            raise FieldError(f"Longer than {self.max_length} characters")
        return value


@dataclass(frozen=True)
class Integer(Kind):
    """A whole number from 0 to ``maximum``.

    In JSON a string of digits is accepted too, as the reference accepts
    ``"10"`` (what ``ckanapi action job_list limit=10`` sends), and so is a
    whole float such as ``10.0``.
    """

    maximum: int

    @property
    def _digits(self) -> str:
        """The pattern of the JSON string form: digits, no more than the maximum has."""
        return f"[0-9]{{1,{len(str(self.maximum))}}}"

    def schema(self, *, query: bool) -> JsonSchema:
        number: JsonSchema = {"type": "integer", "minimum": 0, "maximum": self.maximum}
        if query:
            return number
        return {"anyOf": [number, {"type": "string", "pattern": f"^{self._digits}$"}]}

    def parse(self, value: object, *, query: bool) -> int:
        if isinstance(value, str):
            if not re.fullmatch(r"-?[0-9]{1,20}" if query else self._digits, value):
                raise FieldError("Invalid integer")
            value = int(value)
        elif isinstance(value, float) and value.is_integer() and not query:
            value = int(value)  # 5.0 is an integer to JSON Schema, and to the reference
        elif isinstance(value, bool) or not isinstance(value, int) or query:
            raise FieldError("Invalid integer")
        if value < 0:
            raise FieldError("Must be zero or more")
        if value > self.maximum:
            raise FieldError(f"Must be at most {self.maximum}")
        return value


@dataclass(frozen=True)
class Boolean(Kind):
    """true or false; also the reference's words for them, in any case (``True`` from requests)."""

    def schema(self, *, query: bool) -> JsonSchema:
        words = {"type": "string", "pattern": _any_case([*TRUE_WORDS, *FALSE_WORDS])}
        return {"anyOf": [{"type": "boolean"}, words]}

    def parse(self, value: object, *, query: bool) -> bool:
        if isinstance(value, bool) and not query:
            return value
        word = value.lower() if isinstance(value, str) else value
        if word in TRUE_WORDS:
            return True
        if word in FALSE_WORDS:
            return False
        raise FieldError(f"Not a boolean: {shown(value)} (use true or false)")


@dataclass(frozen=True)
class Choice(Kind):
    """One of a fixed set of strings; ``noun`` names them in the message."""

    values: tuple[str, ...]
    noun: str = "value"

    def schema(self, *, query: bool) -> JsonSchema:
        return {"type": "string", "enum": list(self.values)}

    def parse(self, value: object, *, query: bool) -> str:
        if not isinstance(value, str):
            raise FieldError(f"Not a string: {shown(value)}")
        if value not in self.values:
            known = ", ".join(self.values)
            raise FieldError(f"Unknown {self.noun} {shown(value)} (one of {known})")
        return value


@dataclass(frozen=True)
class ListOf(Kind):
    """A list of up to ``max_items`` values of one kind; repeated in a query string."""

    item: Kind
    max_items: int

    def schema(self, *, query: bool) -> JsonSchema:
        items = self.item.schema(query=query)
        return {"type": "array", "items": items, "maxItems": self.max_items}

    def parse(self, value: object, *, query: bool) -> list[Any]:
        if not isinstance(value, list):
            raise FieldError("Not a list")
        if len(value) > self.max_items:
            raise FieldError(f"More than {self.max_items} items")
        return [self.item.parse(item, query=query) for item in value]


@dataclass(frozen=True)
class Param:
    """One parameter of an action."""

    name: str
    kind: Kind
    description: str
    required: bool = False

    @property
    def is_list(self) -> bool:
        """Whether a query string may repeat it (``?queues=a&queues=b``)."""
        return isinstance(self.kind, ListOf)


def _error_key(name: str) -> str:
    # A caller's unknown parameter could be called "__type": keep it off the
    # error object's own keys.
    return "__extras" if name in RESERVED_ERROR_KEYS else name


def validate(
    params: Sequence[Param], data: Mapping[str, object], *, query: bool
) -> dict[str, Any]:
    """The parsed values of the parameters given; ValidationError naming every bad field.

    A parameter that is absent or ``null`` is left out (the action applies
    its default); a required one is "Missing value". Unknown parameters are
    refused, not ignored, so a misspelt option never silently does nothing.
    """
    known = {param.name: param for param in params}
    errors: dict[str, list[str]] = {}
    for name in data:
        if name not in known:
            key = _error_key(name)
            message = "Unknown parameter" if key == name else f"Unknown parameter {shown(name)}"
            errors.setdefault(key, []).append(message)
    values: dict[str, Any] = {}
    for param in params:
        value = data.get(param.name)
        if value is None:
            if param.required:
                errors[param.name] = ["Missing value"]
            continue
        if param.required and value == "":
            errors[param.name] = ["Missing value"]
            continue
        try:
            values[param.name] = param.kind.parse(value, query=query)
        except FieldError as exc:
            errors[param.name] = [str(exc)]
    if errors:
        raise ValidationError(errors)
    return values


def ref(component: str) -> JsonSchema:
    """A reference to one of the OpenAPI document's component schemas."""
    return {"$ref": f"#/components/schemas/{component}"}


def body_schema(params: Sequence[Param]) -> JsonSchema:
    """The JSON schema of a POST body carrying ``params``.

    An optional parameter may be ``null``, which means the same as leaving it
    out (as in the reference).
    """
    properties: JsonSchema = {}
    for param in params:
        accepted = param.kind.schema(query=False)
        if not param.required:
            choices = accepted["anyOf"] if list(accepted) == ["anyOf"] else [accepted]
            accepted = {"anyOf": [*choices, {"type": "null"}]}
        properties[param.name] = {**accepted, "description": param.description}
    schema: JsonSchema = {
        "type": "object",
        "properties": properties,
        "additionalProperties": False,
    }
    required = [param.name for param in params if param.required]
    if required:
        schema["required"] = required
    return schema


def form_schema(params: Sequence[Param]) -> JsonSchema:
    """The schema of a POST body of form fields carrying ``params``: text, as in a query."""
    properties = {
        param.name: {**param.kind.schema(query=True), "description": param.description}
        for param in params
    }
    schema: JsonSchema = {"type": "object", "properties": properties}
    required = [param.name for param in params if param.required]
    if required:
        schema["required"] = required
    return schema
