"""Reading a list of people to invite (domain/invitations.py): the shapes people paste or upload."""

from __future__ import annotations

from twostep.domain import invitations


def test_one_person_per_line_in_the_usual_shapes() -> None:
    parsed = invitations.parse(
        "ada@example.com\n"
        "Bo Berg <BO@example.com>\n"
        '"Cy, Young" <cy@example.com>\n'
        "dee@example.com, Dee Dee\n"
        "eve@example.com\tEve\n"
        "\n"
        "fay@example.com; gus@example.com\n"
    )
    assert parsed.refused == []
    assert [(p.email, p.name) for p in parsed.people] == [
        ("ada@example.com", ""),
        ("bo@example.com", "Bo Berg"),
        ("cy@example.com", "Cy, Young"),
        ("dee@example.com", "Dee Dee"),
        ("eve@example.com", "Eve"),
        ("fay@example.com", ""),
        ("gus@example.com", ""),
    ]
    assert [p.line for p in parsed.people] == [1, 2, 3, 4, 5, 7, 7]


def test_bad_lines_are_refused_with_their_number_and_the_rest_is_kept() -> None:
    parsed = invitations.parse("ada@example.com\nnot an address\nADA@Example.com\nbo@example.com, " + "x" * 201)
    assert [p.email for p in parsed.people] == ["ada@example.com"]
    assert [(r.line, r.reason, r.other_line) for r in parsed.refused] == [
        (2, "email_invalid", 0),
        (3, "duplicate", 1),
        (4, "name_too_long", 0),
    ]


def test_a_csv_file_with_a_header_names_its_columns() -> None:
    parsed = invitations.parse(
        "\ufeffEmail,Name,Language,Roles\r\n"
        "anna@example.se,Anna,sv_SE,staff;finance\r\n"
        "per@example.se,Per,de,\r\n"
        "kim@example.se,Kim,,Not A Role\r\n"
        ",,,\r\n"
    )
    [anna] = parsed.people
    assert (anna.email, anna.name, anna.language, anna.roles) == ("anna@example.se", "Anna", "sv", ("finance", "staff"))
    assert [(r.line, r.reason, r.detail) for r in parsed.refused] == [
        (3, "language_unknown", "de"),
        (4, "role_invalid", "Not A Role"),
    ]


def test_a_csv_file_with_a_password_column_is_refused_whole() -> None:
    parsed = invitations.parse("email,password_hash\nada@example.com,$2b$12$abc\n")
    assert parsed.people == [] and [(r.reason, r.detail) for r in parsed.refused] == [
        ("column_unknown", "password_hash")
    ]


def test_at_most_a_thousand_people_at_once() -> None:
    parsed = invitations.parse("\n".join(f"p{i}@example.com" for i in range(1005)))
    assert len(parsed.people) == invitations.MAX_PEOPLE
    assert [r.reason for r in parsed.refused] == ["too_many"]


def test_control_characters_in_a_name_are_refused() -> None:
    parsed = invitations.parse("Ada\x07 <ada@example.com>")
    assert parsed.people == [] and parsed.refused[0].reason == "control_character"
