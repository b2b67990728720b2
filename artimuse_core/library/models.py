"""The library's tables as typed SQLAlchemy 2 ORM models. Alembic migrations (``migrations/``) create them.

Images are files (identified by path, followed across moves and renames by content hash); an evaluation
is one score of one image by one model (+ adapter); ``current`` marks the latest evaluation of each
(image, model fingerprint, adapter), which is what rankings read.
"""

from __future__ import annotations

from datetime import datetime, timezone

from sqlalchemy import JSON, Boolean, DateTime, Float, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship


def utcnow() -> datetime:
    """Now in UTC, naive (as SQLite stores it)."""
    return datetime.now(timezone.utc).replace(tzinfo=None)


class Base(DeclarativeBase):
    """The declarative base of the library's tables."""


class Image(Base):
    """An image file, by absolute path; followed across moves by its content hash."""

    __tablename__ = "images"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    path: Mapped[str] = mapped_column(Text, unique=True)
    content_hash: Mapped[str] = mapped_column(String(64), index=True)
    size: Mapped[int] = mapped_column(Integer)
    mtime: Mapped[float] = mapped_column(Float)
    width: Mapped[int | None] = mapped_column(Integer)
    height: Mapped[int | None] = mapped_column(Integer)
    category: Mapped[str | None] = mapped_column(String(32), index=True)
    category_source: Mapped[str | None] = mapped_column(String(16))  # option | config | predicted | user
    category_confidence: Mapped[float | None] = mapped_column(Float)
    first_seen: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    last_seen: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    missing: Mapped[bool] = mapped_column(Boolean, default=False)

    evaluations: Mapped[list[Evaluation]] = relationship(back_populates="image", cascade="all, delete-orphan")
    ratings: Mapped[list[Rating]] = relationship(back_populates="image", cascade="all, delete-orphan")


class Evaluation(Base):
    """One score of one image by one model + adapter: score 0-100, std in score points, the 101-way
    distribution, and its provenance."""

    __tablename__ = "evaluations"
    __table_args__ = (
        Index("ix_evaluations_current_score", "current", "score"),
        Index("ix_evaluations_image_model", "image_id", "model_fingerprint", "adapter"),
        Index("ix_evaluations_current_category_score", "current", "category", "score"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    image_id: Mapped[int] = mapped_column(ForeignKey("images.id", ondelete="CASCADE"))
    model_name: Mapped[str] = mapped_column(String(200))
    model_fingerprint: Mapped[str] = mapped_column(String(32))
    adapter: Mapped[str | None] = mapped_column(String(200))
    score: Mapped[float] = mapped_column(Float)
    std: Mapped[float] = mapped_column(Float)
    distribution: Mapped[list] = mapped_column(JSON)
    prompt_hash: Mapped[str] = mapped_column(String(64))
    engine_version: Mapped[str] = mapped_column(String(32))
    device: Mapped[str] = mapped_column(String(32))
    dtype: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, index=True)
    current: Mapped[bool] = mapped_column(Boolean, default=True)
    # A copy of the image's category (kept in step by the library API) so rankings read one index.
    category: Mapped[str | None] = mapped_column(String(32))

    image: Mapped[Image] = relationship(back_populates="evaluations")
    critiques: Mapped[list[Critique]] = relationship(back_populates="evaluation", cascade="all, delete-orphan")


class Critique(Base):
    """One attribute's critique text, attached to the evaluation it describes."""

    __tablename__ = "critiques"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    evaluation_id: Mapped[int] = mapped_column(ForeignKey("evaluations.id", ondelete="CASCADE"), index=True)
    attribute: Mapped[str] = mapped_column(String(64))
    text: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)

    evaluation: Mapped[Evaluation] = relationship(back_populates="critiques")


class Rating(Base):
    """The user's own rating of an image (score 0-100; stars when given as stars)."""

    __tablename__ = "ratings"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    image_id: Mapped[int] = mapped_column(ForeignKey("images.id", ondelete="CASCADE"), index=True)
    score: Mapped[float] = mapped_column(Float)
    stars: Mapped[float | None] = mapped_column(Float)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)

    image: Mapped[Image] = relationship(back_populates="ratings")


class ErrorRecord(Base):
    """A file that could not be scored: kind tag and one-line message."""

    __tablename__ = "errors"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    path: Mapped[str] = mapped_column(Text, index=True)
    kind: Mapped[str] = mapped_column(String(32))
    message: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, index=True)


class Job(Base):
    """One unit of watcher work. ``pending`` until its results commit, in the same transaction."""

    __tablename__ = "jobs"
    __table_args__ = (Index("ix_jobs_status_kind", "status", "kind", "id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    path: Mapped[str] = mapped_column(Text, index=True)
    size: Mapped[int | None] = mapped_column(Integer)
    mtime: Mapped[float | None] = mapped_column(Float)
    status: Mapped[str] = mapped_column(String(16), default="pending")
    options: Mapped[dict | None] = mapped_column(JSON)
    evaluation_id: Mapped[int | None] = mapped_column(ForeignKey("evaluations.id", ondelete="SET NULL"))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str | None] = mapped_column(Text)
    enqueued_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


class Adapter(Base):
    """A LoRA adapter fine-tuned on the user's ratings (files under the library home)."""

    __tablename__ = "adapters"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    path: Mapped[str] = mapped_column(Text)
    base_model: Mapped[str] = mapped_column(String(200))
    base_fingerprint: Mapped[str] = mapped_column(String(32))
    train_size: Mapped[int] = mapped_column(Integer)
    val_size: Mapped[int] = mapped_column(Integer)
    metrics: Mapped[dict] = mapped_column(JSON)
    hyperparameters: Mapped[dict] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
