"""Factories of the documents: element types and transcriptions. Elements are made through
`arkindex.documents.elements`, which also writes their paths."""

import factory

from arkindex.documents.models import ElementType, Transcription


class ElementTypeFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ElementType

    slug = factory.Sequence(lambda n: f"type-{n}")
    display_name = factory.Sequence(lambda n: f"Type {n}")


class TranscriptionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Transcription

    text = factory.Sequence(lambda n: f"Text {n}")
    confidence = 0.5
