"""Benchmark reference: Portico's accounts contract (SPEC §3–§4) written in FastAPI.

This is NOT part of the product. It exists only so `benchmarks/compare.sh` can compare
Portico with the same HTTP contract in the idiomatic Python stack: FastAPI, sync endpoints
(run in FastAPI's threadpool), SQLAlchemy 2 over SQLite (WAL), `bcrypt` and PyJWT.
It covers what the load driver uses plus refresh rotation; form login, logout, profile
edits and rooms are left out.

Environment: JWT_SECRET (required, shared by every worker), DATABASE_PATH
(default /tmp/portico-fastapi.db), BCRYPT_COST (default 12).
Run: uvicorn app:app --workers 2 --port 18081
"""

import hashlib
import os
import re
import secrets
import sys
import uuid
from datetime import UTC, datetime, timedelta
from typing import Annotated

import bcrypt
import jwt
from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, ConfigDict, Field, field_validator
from sqlalchemy import DateTime, ForeignKey, String, TypeDecorator, create_engine, event, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, sessionmaker
from sqlalchemy.schema import CreateIndex, CreateTable
from starlette.exceptions import HTTPException as StarletteHTTPException

JWT_SECRET = os.environ.get("JWT_SECRET") or sys.exit("JWT_SECRET must be set (every worker shares it)")
ISSUER = AUDIENCE = "portico"
ACCESS_TTL = timedelta(minutes=15)
REFRESH_TTL = timedelta(days=7)
BCRYPT_COST = int(os.environ.get("BCRYPT_COST", "12"))
DUMMY_HASH = bcrypt.hashpw(b"dummy password for unknown emails", bcrypt.gensalt(BCRYPT_COST))
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


# --- storage ------------------------------------------------------------------------------
class UTCDateTime(TypeDecorator):
    """SQLite keeps no time zone: store naive UTC, hand back aware UTC."""

    impl, cache_ok = DateTime, True

    def process_bind_param(self, value, dialect):
        return value.astimezone(UTC).replace(tzinfo=None) if value else value

    def process_result_value(self, value, dialect):
        return value.replace(tzinfo=UTC) if value else value


class Base(DeclarativeBase):
    pass


class User(Base):
    __tablename__ = "users"
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    email: Mapped[str] = mapped_column(String(320), unique=True)
    password_hash: Mapped[bytes]
    first_name: Mapped[str] = mapped_column(String(100), default="")
    last_name: Mapped[str] = mapped_column(String(100), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class RefreshToken(Base):
    __tablename__ = "refresh_tokens"
    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)  # sha256 hex
    family: Mapped[str] = mapped_column(String(36), index=True)  # one login = one family
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    spent: Mapped[bool] = mapped_column(default=False)
    revoked: Mapped[bool] = mapped_column(default=False)


engine = create_engine(f"sqlite:///{os.environ.get('DATABASE_PATH', '/tmp/portico-fastapi.db')}")


@event.listens_for(engine, "connect")
def _pragmas(connection, _record):
    cursor = connection.cursor()
    for pragma in ("busy_timeout = 5000", "journal_mode = WAL", "synchronous = NORMAL", "foreign_keys = ON"):
        cursor.execute(f"PRAGMA {pragma}")
    cursor.close()


with engine.begin() as ddl:  # IF NOT EXISTS: both workers import this module at once
    for table in Base.metadata.sorted_tables:
        ddl.execute(CreateTable(table, if_not_exists=True))
        for index in table.indexes:
            ddl.execute(CreateIndex(index, if_not_exists=True))

SessionLocal = sessionmaker(engine, expire_on_commit=False)


def get_db():
    with SessionLocal() as db:
        yield db


Db = Annotated[Session, Depends(get_db)]


# --- schemas ------------------------------------------------------------------------------
class Credentials(BaseModel):
    model_config = ConfigDict(extra="forbid")
    email: str
    password: str

    @field_validator("email")
    @classmethod
    def _email(cls, value: str) -> str:
        value = value.strip().lower()
        if len(value) > 320 or not EMAIL.match(value):
            raise ValueError("not a valid email address")
        return value

    @field_validator("password")
    @classmethod
    def _password(cls, value: str) -> str:
        if not 8 <= len(value.encode()) <= 72:
            raise ValueError("must be 8 to 72 bytes")
        return value


class Registration(Credentials):
    first_name: str = Field("", max_length=100)
    last_name: str = Field("", max_length=100)


class UserOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: str
    email: str
    first_name: str
    last_name: str
    created_at: datetime
    updated_at: datetime


class TokenPair(BaseModel):
    access_token: str
    refresh_token: str
    token_type: str = "Bearer"
    expires_in: int = int(ACCESS_TTL.total_seconds())


class RefreshIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    refresh_token: str


# --- errors: RFC 9457 problem documents -----------------------------------------------------
app = FastAPI(title="Portico (FastAPI benchmark reference)")


def problem(status: int, code: str, detail: str, headers=None, errors=None) -> JSONResponse:
    body = {"type": "about:blank", "title": detail, "status": status, "detail": detail, "code": code}
    if errors is not None:
        body["errors"] = errors
    return JSONResponse(body, status, headers=headers, media_type="application/problem+json")


def unauthorized(code: str) -> HTTPException:
    challenge = 'Bearer error="invalid_token"' if code != "invalid_credentials" else "Bearer"
    return HTTPException(401, detail=code, headers={"WWW-Authenticate": challenge})


@app.exception_handler(StarletteHTTPException)  # also unknown routes (404) and methods (405)
async def _http_problem(_request: Request, exc: StarletteHTTPException):
    code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, str(exc.detail))
    return problem(exc.status_code, code, str(exc.detail), exc.headers)


@app.exception_handler(RequestValidationError)
async def _validation_problem(_request: Request, exc: RequestValidationError):
    if any(error["type"] == "json_invalid" for error in exc.errors()):
        return problem(400, "malformed_request", "the body is not valid JSON")
    errors = [{"field": ".".join(map(str, e["loc"][1:])), "message": e["msg"]} for e in exc.errors()]
    return problem(422, "validation_failed", "the request is not valid", errors=errors)


# --- tokens -------------------------------------------------------------------------------
def access_token(user: User) -> str:
    now = datetime.now(UTC)
    claims = {"sub": user.id, "email": user.email, "iat": now, "nbf": now, "exp": now + ACCESS_TTL,
              "jti": str(uuid.uuid4()), "iss": ISSUER, "aud": AUDIENCE}
    return jwt.encode(claims, JWT_SECRET, algorithm="HS256", headers={"typ": "at+jwt"})


def issue_pair(db: Session, user: User, family: str) -> TokenPair:
    secret = secrets.token_urlsafe(32)  # 256 random bits; only its hash is stored
    db.add(RefreshToken(token_hash=hashlib.sha256(secret.encode()).hexdigest(), family=family,
                        user_id=user.id, expires_at=datetime.now(UTC) + REFRESH_TTL))
    db.commit()
    return TokenPair(access_token=access_token(user), refresh_token=secret)


def current_user(db: Db, bearer: Annotated[HTTPAuthorizationCredentials | None,
                                           Depends(HTTPBearer(auto_error=False))]) -> User:
    if bearer is None:
        raise HTTPException(401, "missing_token", headers={"WWW-Authenticate": "Bearer"})
    try:
        token = jwt.decode_complete(bearer.credentials, JWT_SECRET, algorithms=["HS256"], issuer=ISSUER,
                                    audience=AUDIENCE, options={"require": ["exp", "nbf", "iat", "sub"]})
    except jwt.InvalidTokenError:
        raise unauthorized("invalid_token") from None
    user = db.get(User, token["payload"]["sub"]) if token["header"].get("typ") == "at+jwt" else None
    if user is None:
        raise unauthorized("invalid_token")
    return user


# --- routes -------------------------------------------------------------------------------
@app.post("/register", status_code=201, response_model=UserOut)
def register(body: Registration, db: Db):
    now = datetime.now(UTC)
    password_hash = bcrypt.hashpw(body.password.encode(), bcrypt.gensalt(BCRYPT_COST))
    user = User(id=str(uuid.uuid4()), email=body.email, password_hash=password_hash,
                first_name=body.first_name, last_name=body.last_name, created_at=now, updated_at=now)
    db.add(user)
    try:
        db.commit()
    except IntegrityError:
        raise HTTPException(409, "email_taken") from None
    return user


@app.post("/login", response_model=TokenPair)
def login(body: Credentials, db: Db):
    user = db.scalar(select(User).where(User.email == body.email))
    db.commit()  # hand the pooled connection back while bcrypt runs
    if not bcrypt.checkpw(body.password.encode(), user.password_hash if user else DUMMY_HASH) or not user:
        raise unauthorized("invalid_credentials")
    return issue_pair(db, user, family=str(uuid.uuid4()))


@app.post("/refresh", response_model=TokenPair)
def refresh(body: RefreshIn, db: Db):
    token_hash = hashlib.sha256(body.refresh_token.encode()).hexdigest()
    # Spend the token in one conditional write, so two racing refreshes cannot both win.
    row = db.execute(update(RefreshToken)
                     .where(RefreshToken.token_hash == token_hash, RefreshToken.spent.is_(False),
                            RefreshToken.revoked.is_(False), RefreshToken.expires_at > datetime.now(UTC))
                     .values(spent=True).returning(RefreshToken.family, RefreshToken.user_id)).first()
    if row is None:
        reused = db.scalar(select(RefreshToken.family).where(RefreshToken.token_hash == token_hash,
                                                             RefreshToken.spent.is_(True)))
        if reused is not None:  # a spent token came back: assume theft, end the whole session
            db.execute(update(RefreshToken).where(RefreshToken.family == reused).values(revoked=True))
        db.commit()
        raise unauthorized("invalid_refresh_token")
    user = db.get(User, row.user_id)
    return issue_pair(db, user, family=row.family)


@app.get("/users/me", response_model=UserOut)
def me(user: Annotated[User, Depends(current_user)]):
    return user


@app.get("/health/live")
def live():
    return {"status": "ok"}
