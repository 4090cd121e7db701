"""Translations of the console's new texts (issue 18, admin part): msgid -> (pl, nl, sv).

Plural entries: the msgid is (singular, plural); Polish gives three forms, Dutch and Swedish two.
``python scripts/admin_translations.py`` appends every entry a catalog lacks to the end of
src/twostep/locale/{pl,nl,sv}/LC_MESSAGES/messages.po (append-only, so merges stay easy).
"""

from __future__ import annotations

from pathlib import Path

from babel.messages.pofile import read_po

ROOT = Path(__file__).resolve().parents[1]

Entry = tuple[object, object, object]

T: dict[object, Entry] = {
    "The link has expired, or it was changed on the way. Ask your administrator to send the invitation again, or choose a password with an emailed code:": (
        "Link wygasł albo został zmieniony po drodze. Poproś administratora o ponowne wysłanie zaproszenia albo ustaw hasło za pomocą kodu z e-maila:",
        "De link is verlopen of onderweg gewijzigd. Vraag je beheerder de uitnodiging opnieuw te sturen, of kies een wachtwoord met een gemailde code:",
        "Länken har gått ut eller ändrats på vägen. Be din administratör att skicka inbjudan igen, eller välj ett lösenord med en kod via e-post:",
    ),
    "This invitation link no longer works": (
        "Ten link z zaproszeniem już nie działa",
        "Deze uitnodigingslink werkt niet meer",
        "Den här inbjudningslänken fungerar inte längre",
    ),
    "Please correct this:": ("Popraw to:", "Verbeter dit:", "Rätta till detta:"),
    "Overview": ("Przegląd", "Overzicht", "Översikt"),
    "Filter the events": ("Filtruj zdarzenia", "Gebeurtenissen filteren", "Filtrera händelserna"),
    "Any event": ("Dowolne zdarzenie", "Elke gebeurtenis", "Alla händelser"),
    "Starting with %(prefix)s": ("Zaczynające się od %(prefix)s", "Beginnend met %(prefix)s", "Som börjar med %(prefix)s"),
    "Events, newest first": ("Zdarzenia, od najnowszych", "Gebeurtenissen, nieuwste eerst", "Händelser, nyaste först"),
    "by %(who)s": ("wykonał(a) %(who)s", "door %(who)s", "av %(who)s"),
    "User id": ("Identyfikator użytkownika", "Gebruikers-id", "Användar-id"),
    "Browser, as it said": ("Przeglądarka, jak się przedstawiła", "Browser, zoals die zich meldde", "Webbläsaren, som den angav sig"),
    "Request id": ("Identyfikator żądania", "Verzoek-id", "Förfrågans id"),
    "Newest events": ("Najnowsze zdarzenia", "Nieuwste gebeurtenissen", "Nyaste händelserna"),
    ("Delete %(num)s account?", "Delete %(num)s accounts?"): (
        ("Usunąć %(num)s konto?", "Usunąć %(num)s konta?", "Usunąć %(num)s kont?"),
        ("%(num)s account verwijderen?", "%(num)s accounts verwijderen?"),
        ("Ta bort %(num)s konto?", "Ta bort %(num)s konton?"),
    ),
    ("Reset two-step verification of %(num)s user?", "Reset two-step verification of %(num)s users?"): (
        (
            "Zresetować weryfikację dwuetapową %(num)s użytkownika?",
            "Zresetować weryfikację dwuetapową %(num)s użytkowników?",
            "Zresetować weryfikację dwuetapową %(num)s użytkowników?",
        ),
        ("Tweestapsverificatie van %(num)s gebruiker resetten?", "Tweestapsverificatie van %(num)s gebruikers resetten?"),
        ("Återställa tvåstegsverifieringen för %(num)s användare?", "Återställa tvåstegsverifieringen för %(num)s användare?"),
    ),
    ("Sign out %(num)s user everywhere?", "Sign out %(num)s users everywhere?"): (
        (
            "Wylogować %(num)s użytkownika wszędzie?",
            "Wylogować %(num)s użytkowników wszędzie?",
            "Wylogować %(num)s użytkowników wszędzie?",
        ),
        ("%(num)s gebruiker overal afmelden?", "%(num)s gebruikers overal afmelden?"),
        ("Logga ut %(num)s användare överallt?", "Logga ut %(num)s användare överallt?"),
    ),
    "Removes the accounts and all their data. The audit log keeps their ids and email addresses. Each user is emailed. This can't be undone.": (
        "Usuwa konta i wszystkie ich dane. Dziennik zdarzeń zachowuje ich identyfikatory i adresy e-mail. Każdy użytkownik dostaje e-mail. Tego nie można cofnąć.",
        "Verwijdert de accounts en al hun gegevens. Het auditlogboek bewaart hun id's en e-mailadressen. Elke gebruiker krijgt een e-mail. Dit kan niet ongedaan worden gemaakt.",
        "Tar bort kontona och alla deras data. Granskningsloggen behåller deras id och e-postadresser. Varje användare får ett e-postmeddelande. Det går inte att ångra.",
    ),
    "Removes their methods, recovery codes, remembered devices and sessions; they set up two-step verification again at the next sign-in and get an email about it.": (
        "Usuwa ich metody, kody odzyskiwania, zapamiętane urządzenia i sesje; przy następnym logowaniu ponownie skonfigurują weryfikację dwuetapową i dostaną o tym e-mail.",
        "Verwijdert hun methoden, herstelcodes, onthouden apparaten en sessies; bij de volgende aanmelding stellen ze tweestapsverificatie opnieuw in en krijgen ze daarover een e-mail.",
        "Tar bort deras metoder, återställningskoder, ihågkomna enheter och sessioner; vid nästa inloggning ställer de in tvåstegsverifiering igen och får ett e-postmeddelande om det.",
    ),
    "Ends every session of these users and forgets their remembered devices.": (
        "Kończy każdą sesję tych użytkowników i zapomina ich zapamiętane urządzenia.",
        "Beëindigt elke sessie van deze gebruikers en vergeet hun onthouden apparaten.",
        "Avslutar alla sessioner för dessa användare och glömmer deras ihågkomna enheter.",
    ),
    "Type %(count)s to confirm": ("Wpisz %(count)s, aby potwierdzić", "Typ %(count)s om te bevestigen", "Skriv %(count)s för att bekräfta"),
    "Delete the accounts": ("Usuń konta", "Accounts verwijderen", "Ta bort kontona"),
    "Done": ("Gotowe", "Klaar", "Klart"),
    ("%(num)s user done.", "%(num)s users done."): (
        ("Zrobione dla %(num)s użytkownika.", "Zrobione dla %(num)s użytkowników.", "Zrobione dla %(num)s użytkowników."),
        ("Klaar voor %(num)s gebruiker.", "Klaar voor %(num)s gebruikers."),
        ("Klart för %(num)s användare.", "Klart för %(num)s användare."),
    ),
    ("%(num)s user was left as they were:", "%(num)s users were left as they were:"): (
        (
            "%(num)s użytkownik pozostał bez zmian:",
            "%(num)s użytkowników pozostało bez zmian:",
            "%(num)s użytkowników pozostało bez zmian:",
        ),
        ("%(num)s gebruiker is ongewijzigd gebleven:", "%(num)s gebruikers zijn ongewijzigd gebleven:"),
        ("%(num)s användare lämnades oförändrad:", "%(num)s användare lämnades oförändrade:"),
    ),
    "Back to the users": ("Wróć do użytkowników", "Terug naar de gebruikers", "Tillbaka till användarna"),
    "Getting started": ("Pierwsze kroki", "Aan de slag", "Kom igång"),
    "A few things to do before people rely on this service:": (
        "Kilka rzeczy do zrobienia, zanim ludzie zaczną polegać na tej usłudze:",
        "Een paar dingen om te doen voordat mensen op deze dienst vertrouwen:",
        "Några saker att göra innan folk förlitar sig på tjänsten:",
    ),
    "Done:": ("Zrobione:", "Klaar:", "Klart:"),
    "To do:": ("Do zrobienia:", "Te doen:", "Att göra:"),
    "Make a second administrator, so that one can help when the other loses their phone.": (
        "Ustanów drugiego administratora, aby jeden mógł pomóc, gdy drugi zgubi telefon.",
        "Maak een tweede beheerder, zodat de ene kan helpen als de andere zijn telefoon kwijtraakt.",
        "Utse en andra administratör, så att den ena kan hjälpa till när den andra tappar bort sin telefon.",
    ),
    "Choose a user": ("Wybierz użytkownika", "Kies een gebruiker", "Välj en användare"),
    "Connect a mail server (TWOSTEP_SMTP_URL). Until then, codes and invitations are only written to the log.": (
        "Podłącz serwer poczty (TWOSTEP_SMTP_URL). Do tego czasu kody i zaproszenia są tylko zapisywane w dzienniku.",
        "Koppel een mailserver (TWOSTEP_SMTP_URL). Tot dan worden codes en uitnodigingen alleen in het logboek geschreven.",
        "Anslut en e-postserver (TWOSTEP_SMTP_URL). Till dess skrivs koder och inbjudningar bara till loggen.",
    ),
    "Set the public https:// address (TWOSTEP_BASE_URL): links in emails use it, and cookies are marked Secure with it.": (
        "Ustaw publiczny adres https:// (TWOSTEP_BASE_URL): używają go linki w e-mailach, a ciasteczka są wtedy oznaczane jako Secure.",
        "Stel het openbare https://-adres in (TWOSTEP_BASE_URL): links in e-mails gebruiken het, en cookies worden er Secure mee gemarkeerd.",
        "Ange den publika https://-adressen (TWOSTEP_BASE_URL): länkar i e-post använder den, och kakor markeras då som Secure.",
    ),
    "Give a support address (TWOSTEP_SUPPORT_EMAIL): pages and emails tell users whom to ask.": (
        "Podaj adres pomocy (TWOSTEP_SUPPORT_EMAIL): strony i e-maile mówią użytkownikom, kogo pytać.",
        "Geef een supportadres op (TWOSTEP_SUPPORT_EMAIL): pagina's en e-mails vertellen gebruikers wie ze kunnen vragen.",
        "Ange en supportadress (TWOSTEP_SUPPORT_EMAIL): sidor och e-post talar om för användarna vem de kan fråga.",
    ),
    "Key figures": ("Najważniejsze liczby", "Kerncijfers", "Nyckeltal"),
    ("user", "users"): (("użytkownik", "użytkowników", "użytkowników"), ("gebruiker", "gebruikers"), ("användare", "användare")),
    "set up two-step verification (%(count)s)": (
        "ma weryfikację dwuetapową (%(count)s)",
        "hebben tweestapsverificatie ingesteld (%(count)s)",
        "har ställt in tvåstegsverifiering (%(count)s)",
    ),
    "sign-ins in the last 24 hours": (
        "logowania w ciągu ostatnich 24 godzin",
        "aanmeldingen in de laatste 24 uur",
        "inloggningar de senaste 24 timmarna",
    ),
    "failed sign-ins in the last 24 hours": (
        "nieudane logowania w ciągu ostatnich 24 godzin",
        "mislukte aanmeldingen in de laatste 24 uur",
        "misslyckade inloggningar de senaste 24 timmarna",
    ),
    "Needs attention": ("Wymaga uwagi", "Vraagt aandacht", "Behöver uppmärksamhet"),
    ("account locked after wrong attempts", "accounts locked after wrong attempts"): (
        (
            "konto zablokowane po błędnych próbach",
            "konta zablokowane po błędnych próbach",
            "kont zablokowanych po błędnych próbach",
        ),
        ("account geblokkeerd na foute pogingen", "accounts geblokkeerd na foute pogingen"),
        ("konto spärrat efter felaktiga försök", "konton spärrade efter felaktiga försök"),
    ),
    ("user in a grace period", "users in a grace period"): (
        ("użytkownik w okresie przejściowym", "użytkowników w okresie przejściowym", "użytkowników w okresie przejściowym"),
        ("gebruiker in een overgangsperiode", "gebruikers in een overgangsperiode"),
        ("användare i en övergångsperiod", "användare i en övergångsperiod"),
    ),
    ("user with 2 or fewer recovery codes left", "users with 2 or fewer recovery codes left"): (
        (
            "użytkownik z 2 lub mniej kodami odzyskiwania",
            "użytkowników z 2 lub mniej kodami odzyskiwania",
            "użytkowników z 2 lub mniej kodami odzyskiwania",
        ),
        ("gebruiker met 2 of minder herstelcodes over", "gebruikers met 2 of minder herstelcodes over"),
        ("användare med 2 eller färre återställningskoder kvar", "användare med 2 eller färre återställningskoder kvar"),
    ),
    "Share of users with two-step verification": (
        "Odsetek użytkowników z weryfikacją dwuetapową",
        "Aandeel gebruikers met tweestapsverificatie",
        "Andel användare med tvåstegsverifiering",
    ),
    "From %(first)s %% to %(last)s %% over the last 12 weeks": (
        "Od %(first)s %% do %(last)s %% w ciągu ostatnich 12 tygodni",
        "Van %(first)s %% naar %(last)s %% in de laatste 12 weken",
        "Från %(first)s %% till %(last)s %% under de senaste 12 veckorna",
    ),
    "Show as a table": ("Pokaż jako tabelę", "Als tabel tonen", "Visa som tabell"),
    "Week ending": ("Tydzień kończący się", "Week tot en met", "Vecka som slutar"),
    "Set up": ("Skonfigurowane", "Ingesteld", "Inställd"),
    "Share": ("Odsetek", "Aandeel", "Andel"),
    "Sign-ins in the last 30 days": ("Logowania w ciągu ostatnich 30 dni", "Aanmeldingen in de laatste 30 dagen", "Inloggningar de senaste 30 dagarna"),
    "%(ok)s sign-ins, %(failed)s failed (wrong password or code).": (
        "Logowania: %(ok)s, nieudane: %(failed)s (błędne hasło lub kod).",
        "%(ok)s aanmeldingen, %(failed)s mislukt (fout wachtwoord of foute code).",
        "%(ok)s inloggningar, %(failed)s misslyckade (fel lösenord eller kod).",
    ),
    "Sign-ins and failed sign-ins per day, last 30 days": (
        "Logowania i nieudane logowania dziennie, ostatnie 30 dni",
        "Aanmeldingen en mislukte aanmeldingen per dag, laatste 30 dagen",
        "Inloggningar och misslyckade inloggningar per dag, senaste 30 dagarna",
    ),
    "Failed": ("Nieudane", "Mislukt", "Misslyckade"),
    "Day": ("Dzień", "Dag", "Dag"),
    "Methods in use": ("Używane metody", "Gebruikte methoden", "Metoder som används"),
    "Health": ("Stan", "Gezondheid", "Hälsa"),
    "Mail": ("Poczta", "E-mail", "E-post"),
    "Sent through the mail server": ("Wysyłana przez serwer poczty", "Verstuurd via de mailserver", "Skickas via e-postservern"),
    "Only written to the log: nobody receives codes or invitations": (
        "Tylko zapisywana w dzienniku: nikt nie dostaje kodów ani zaproszeń",
        "Alleen in het logboek geschreven: niemand ontvangt codes of uitnodigingen",
        "Skrivs bara till loggen: ingen får koder eller inbjudningar",
    ),
    ("%(num)s mail could not be sent in the last 24 hours", "%(num)s mails could not be sent in the last 24 hours"): (
        (
            "W ciągu ostatnich 24 godzin nie udało się wysłać %(num)s e-maila",
            "W ciągu ostatnich 24 godzin nie udało się wysłać %(num)s e-maili",
            "W ciągu ostatnich 24 godzin nie udało się wysłać %(num)s e-maili",
        ),
        ("%(num)s e-mail kon in de laatste 24 uur niet worden verstuurd", "%(num)s e-mails konden in de laatste 24 uur niet worden verstuurd"),
        ("%(num)s e-postmeddelande kunde inte skickas de senaste 24 timmarna", "%(num)s e-postmeddelanden kunde inte skickas de senaste 24 timmarna"),
    ),
    "Text messages (SMS)": ("Wiadomości tekstowe (SMS)", "Sms-berichten", "Sms"),
    "Sent through a gateway": ("Wysyłane przez bramkę", "Verstuurd via een gateway", "Skickas via en gateway"),
    "Only written to the log": ("Tylko zapisywane w dzienniku", "Alleen in het logboek geschreven", "Skrivs bara till loggen"),
    "Off (no gateway configured)": ("Wyłączone (brak bramki)", "Uit (geen gateway ingesteld)", "Av (ingen gateway inställd)"),
    (
        "%(num)s text message could not be sent in the last 24 hours",
        "%(num)s text messages could not be sent in the last 24 hours",
    ): (
        (
            "W ciągu ostatnich 24 godzin nie udało się wysłać %(num)s SMS-a",
            "W ciągu ostatnich 24 godzin nie udało się wysłać %(num)s SMS-ów",
            "W ciągu ostatnich 24 godzin nie udało się wysłać %(num)s SMS-ów",
        ),
        ("%(num)s sms kon in de laatste 24 uur niet worden verstuurd", "%(num)s sms'jes konden in de laatste 24 uur niet worden verstuurd"),
        ("%(num)s sms kunde inte skickas de senaste 24 timmarna", "%(num)s sms kunde inte skickas de senaste 24 timmarna"),
    ),
    "Database": ("Baza danych", "Database", "Databas"),
    "working": ("działa", "werkt", "fungerar"),
    "unreachable: limits are counted in the database meanwhile": (
        "nieosiągalny: limity są tymczasem liczone w bazie danych",
        "onbereikbaar: limieten worden intussen in de database geteld",
        "går inte att nå: gränserna räknas under tiden i databasen",
    ),
    "Invite users": ("Zaproś użytkowników", "Gebruikers uitnodigen", "Bjud in användare"),
    "Everyone on the list gets an account without a password and an email with a link and a code to choose it, valid for 7 days. You see the list before anything is sent.": (
        "Każda osoba z listy dostaje konto bez hasła i e-mail z linkiem i kodem do jego ustawienia, ważnym 7 dni. Zobaczysz listę, zanim cokolwiek zostanie wysłane.",
        "Iedereen op de lijst krijgt een account zonder wachtwoord en een e-mail met een link en een code om het te kiezen, 7 dagen geldig. Je ziet de lijst voordat er iets wordt verstuurd.",
        "Alla på listan får ett konto utan lösenord och ett e-postmeddelande med en länk och en kod för att välja det, giltig i 7 dagar. Du ser listan innan något skickas.",
    ),
    "Email addresses, one person per line": (
        "Adresy e-mail, jedna osoba w wierszu",
        "E-mailadressen, één persoon per regel",
        "E-postadresser, en person per rad",
    ),
    "Like ada@example.com, or Ada Lovelace <ada@example.com>, or ada@example.com, Ada Lovelace. Rows copied from a spreadsheet work too.": (
        "Na przykład ada@example.com albo Ada Lovelace <ada@example.com> albo ada@example.com, Ada Lovelace. Wiersze skopiowane z arkusza kalkulacyjnego też działają.",
        "Zoals ada@example.com, of Ada Lovelace <ada@example.com>, of ada@example.com, Ada Lovelace. Rijen gekopieerd uit een spreadsheet werken ook.",
        "Som ada@example.com, eller Ada Lovelace <ada@example.com>, eller ada@example.com, Ada Lovelace. Rader kopierade från ett kalkylark fungerar också.",
    ),
    "Or a file": ("Albo plik", "Of een bestand", "Eller en fil"),
    "(optional)": ("(opcjonalnie)", "(optioneel)", "(valfritt)"),
    "A text file with one person per line, or a CSV file whose first row names the columns: email, and optionally name, language, roles (roles separated by ;). At most 1,000 people at once.": (
        "Plik tekstowy z jedną osobą w wierszu albo plik CSV, którego pierwszy wiersz nazywa kolumny: email oraz opcjonalnie name, language, roles (role oddzielone ;). Najwyżej 1000 osób naraz.",
        "Een tekstbestand met één persoon per regel, of een CSV-bestand waarvan de eerste rij de kolommen noemt: email, en optioneel name, language, roles (rollen gescheiden door ;). Hoogstens 1.000 mensen tegelijk.",
        "En textfil med en person per rad, eller en CSV-fil vars första rad namnger kolumnerna: email, och valfritt name, language, roles (roller åtskilda med ;). Högst 1 000 personer åt gången.",
    ),
    "Check the list": ("Sprawdź listę", "Lijst controleren", "Kontrollera listan"),
    "To bring passwords or authenticator apps from another system, use twostep user import on the server.": (
        "Aby przenieść hasła lub aplikacje uwierzytelniające z innego systemu, użyj polecenia twostep user import na serwerze.",
        "Om wachtwoorden of authenticator-apps uit een ander systeem mee te nemen, gebruik je twostep user import op de server.",
        "För att ta med lösenord eller autentiseringsappar från ett annat system, använd twostep user import på servern.",
    ),
    "Check the invitations": ("Sprawdź zaproszenia", "Uitnodigingen controleren", "Kontrollera inbjudningarna"),
    ("%(num)s person will be invited", "%(num)s people will be invited"): (
        ("Zaproszona zostanie %(num)s osoba", "Zaproszone zostaną %(num)s osoby", "Zaproszonych zostanie %(num)s osób"),
        ("%(num)s persoon wordt uitgenodigd", "%(num)s mensen worden uitgenodigd"),
        ("%(num)s person bjuds in", "%(num)s personer bjuds in"),
    ),
    ("Send %(num)s invitation", "Send %(num)s invitations"): (
        ("Wyślij %(num)s zaproszenie", "Wyślij %(num)s zaproszenia", "Wyślij %(num)s zaproszeń"),
        ("%(num)s uitnodiging versturen", "%(num)s uitnodigingen versturen"),
        ("Skicka %(num)s inbjudan", "Skicka %(num)s inbjudningar"),
    ),
    "Start again": ("Zacznij od nowa", "Opnieuw beginnen", "Börja om"),
    ("%(num)s already has an account (left as it is)", "%(num)s already have an account (left as they are)"): (
        (
            "%(num)s osoba ma już konto (pozostaje bez zmian)",
            "%(num)s osoby mają już konto (pozostają bez zmian)",
            "%(num)s osób ma już konto (pozostają bez zmian)",
        ),
        ("%(num)s heeft al een account (blijft zoals het is)", "%(num)s hebben al een account (blijven zoals ze zijn)"),
        ("%(num)s har redan ett konto (lämnas som det är)", "%(num)s har redan konton (lämnas som de är)"),
    ),
    ("%(num)s line can't be used", "%(num)s lines can't be used"): (
        ("%(num)s wiersza nie można użyć", "%(num)s wierszy nie można użyć", "%(num)s wierszy nie można użyć"),
        ("%(num)s regel is niet bruikbaar", "%(num)s regels zijn niet bruikbaar"),
        ("%(num)s rad kan inte användas", "%(num)s rader kan inte användas"),
    ),
    "Line %(line)s": ("Wiersz %(line)s", "Regel %(line)s", "Rad %(line)s"),
    "Invitations sent": ("Zaproszenia wysłane", "Uitnodigingen verstuurd", "Inbjudningar skickade"),
    "Invitations": ("Zaproszenia", "Uitnodigingen", "Inbjudningar"),
    ("%(num)s invitation sent.", "%(num)s invitations sent."): (
        ("Wysłano %(num)s zaproszenie.", "Wysłano %(num)s zaproszenia.", "Wysłano %(num)s zaproszeń."),
        ("%(num)s uitnodiging verstuurd.", "%(num)s uitnodigingen verstuurd."),
        ("%(num)s inbjudan skickad.", "%(num)s inbjudningar skickade."),
    ),
    "These accounts were created, but their invitation could not be sent. Check the mail settings, then send each again from the user's page:": (
        "Te konta zostały utworzone, ale nie udało się wysłać zaproszeń. Sprawdź ustawienia poczty, a potem wyślij każde ponownie ze strony użytkownika:",
        "Deze accounts zijn aangemaakt, maar hun uitnodiging kon niet worden verstuurd. Controleer de mailinstellingen en stuur ze daarna opnieuw vanaf de pagina van de gebruiker:",
        "De här kontona skapades, men deras inbjudan kunde inte skickas. Kontrollera e-postinställningarna och skicka sedan var och en igen från användarens sida:",
    ),
    "Invited": ("Zaproszeni", "Uitgenodigd", "Inbjudna"),
    "Already had an account": ("Mieli już konto", "Hadden al een account", "Hade redan ett konto"),
    "Not invited": ("Niezaproszeni", "Niet uitgenodigd", "Inte inbjudna"),
    "Everyone invited who has no password yet": (
        "Wszyscy zaproszeni, którzy nie mają jeszcze hasła",
        "Iedereen die is uitgenodigd en nog geen wachtwoord heeft",
        "Alla inbjudna som ännu inte har något lösenord",
    ),
    "Invite more people": ("Zaproś więcej osób", "Meer mensen uitnodigen", "Bjud in fler personer"),
    "Back": ("Wstecz", "Terug", "Tillbaka"),
    "Invitation": ("Zaproszenie", "Uitnodiging", "Inbjudan"),
    "Invited %(when)s.": ("Zaproszono %(when)s.", "Uitgenodigd op %(when)s.", "Inbjuden %(when)s."),
    "The invitation expired %(when)s.": ("Zaproszenie wygasło %(when)s.", "De uitnodiging is verlopen op %(when)s.", "Inbjudan gick ut %(when)s."),
    "Its code works until %(when)s.": ("Jego kod działa do %(when)s.", "De code werkt tot %(when)s.", "Koden fungerar till %(when)s."),
    "This account has no password yet.": ("To konto nie ma jeszcze hasła.", "Dit account heeft nog geen wachtwoord.", "Det här kontot har inget lösenord ännu."),
    "Sends a new link and code, valid for 7 days; the code in an earlier invitation stops working.": (
        "Wysyła nowy link i kod, ważne 7 dni; kod z wcześniejszego zaproszenia przestaje działać.",
        "Stuurt een nieuwe link en code, 7 dagen geldig; de code in een eerdere uitnodiging werkt dan niet meer.",
        "Skickar en ny länk och kod, giltiga i 7 dagar; koden i en tidigare inbjudan slutar fungera.",
    ),
    "Send the invitation again": ("Wyślij zaproszenie ponownie", "Uitnodiging opnieuw versturen", "Skicka inbjudan igen"),
    "Send an invitation": ("Wyślij zaproszenie", "Uitnodiging versturen", "Skicka en inbjudan"),
    "Sign out everywhere…": ("Wyloguj wszędzie…", "Overal afmelden…", "Logga ut överallt…"),
    "Sure? They will have to sign in again on every device.": (
        "Na pewno? Będzie trzeba zalogować się ponownie na każdym urządzeniu.",
        "Zeker? De gebruiker moet zich op elk apparaat opnieuw aanmelden.",
        "Säker? Användaren måste logga in igen på varje enhet.",
    ),
    "Yes, sign out everywhere": ("Tak, wyloguj wszędzie", "Ja, overal afmelden", "Ja, logga ut överallt"),
    "Remove the administrator role…": ("Odbierz rolę administratora…", "Beheerdersrol afnemen…", "Ta bort administratörsrollen…"),
    "Sure? They lose the console at once and get an email about it.": (
        "Na pewno? Od razu straci dostęp do konsoli i dostanie o tym e-mail.",
        "Zeker? De gebruiker verliest meteen de console en krijgt daarover een e-mail.",
        "Säker? Användaren förlorar konsolen direkt och får ett e-postmeddelande om det.",
    ),
    "Add user": ("Dodaj użytkownika", "Gebruiker toevoegen", "Lägg till användare"),
    "Language of emails": ("Język e-maili", "Taal van de e-mails", "Språk i e-post"),
    "The account is created without a password. The person gets an email with a link and a code to choose their password, valid for 7 days; at the first sign-in they set up two-step verification as the policy says.": (
        "Konto jest tworzone bez hasła. Osoba dostaje e-mail z linkiem i kodem do ustawienia hasła, ważnym 7 dni; przy pierwszym logowaniu konfiguruje weryfikację dwuetapową zgodnie z zasadami.",
        "Het account wordt aangemaakt zonder wachtwoord. De persoon krijgt een e-mail met een link en een code om een wachtwoord te kiezen, 7 dagen geldig; bij de eerste aanmelding stelt die tweestapsverificatie in zoals het beleid zegt.",
        "Kontot skapas utan lösenord. Personen får ett e-postmeddelande med en länk och en kod för att välja lösenord, giltig i 7 dagar; vid första inloggningen ställer hen in tvåstegsverifiering enligt policyn.",
    ),
    "The service's default": ("Domyślny usługi", "Standaard van de dienst", "Tjänstens standard"),
    "Separated by commas, for example: sensitive-data, finance. Administrator rights are given on the user's page.": (
        "Oddzielone przecinkami, na przykład: sensitive-data, finance. Uprawnienia administratora nadaje się na stronie użytkownika.",
        "Gescheiden door komma's, bijvoorbeeld: sensitive-data, finance. Beheerdersrechten worden op de pagina van de gebruiker gegeven.",
        "Åtskilda med kommatecken, till exempel: sensitive-data, finance. Administratörsrättigheter ges på användarens sida.",
    ),
    "Add and send the invitation": ("Dodaj i wyślij zaproszenie", "Toevoegen en uitnodiging versturen", "Lägg till och skicka inbjudan"),
    "Invite several people at once": ("Zaproś kilka osób naraz", "Meerdere mensen tegelijk uitnodigen", "Bjud in flera personer på en gång"),
    "Find users": ("Znajdź użytkowników", "Gebruikers zoeken", "Hitta användare"),
    "Any role": ("Dowolna rola", "Elke rol", "Alla roller"),
    "Any method": ("Dowolna metoda", "Elke methode", "Alla metoder"),
    "Any state": ("Dowolny stan", "Elke status", "Alla lägen"),
    "Invited, no password yet": ("Zaproszeni, jeszcze bez hasła", "Uitgenodigd, nog geen wachtwoord", "Inbjudna, inget lösenord ännu"),
    "Locked after wrong attempts": ("Zablokowani po błędnych próbach", "Geblokkeerd na foute pogingen", "Spärrade efter felaktiga försök"),
    "Show": ("Pokaż", "Tonen", "Visa"),
    "More than %(count)s users": ("Ponad %(count)s użytkowników", "Meer dan %(count)s gebruikers", "Fler än %(count)s användare"),
    ("%(num)s user", "%(num)s users"): (
        ("%(num)s użytkownik", "%(num)s użytkowników", "%(num)s użytkowników"),
        ("%(num)s gebruiker", "%(num)s gebruikers"),
        ("%(num)s användare", "%(num)s användare"),
    ),
    "Users, by email address": ("Użytkownicy według adresu e-mail", "Gebruikers, op e-mailadres", "Användare, efter e-postadress"),
    "Choose": ("Wybierz", "Kiezen", "Välj"),
    "Locked until": ("Zablokowany do", "Geblokkeerd tot", "Spärrad till"),
    "Choose %(email)s": ("Wybierz %(email)s", "%(email)s kiezen", "Välj %(email)s"),
    "Invitation expired": ("Zaproszenie wygasło", "Uitnodiging verlopen", "Inbjudan har gått ut"),
    "With the chosen users": ("Z wybranymi użytkownikami", "Met de gekozen gebruikers", "Med de valda användarna"),
    "Action": ("Działanie", "Actie", "Åtgärd"),
    "You confirm on the next page.": ("Potwierdzisz na następnej stronie.", "Je bevestigt op de volgende pagina.", "Du bekräftar på nästa sida."),
    "First page": ("Pierwsza strona", "Eerste pagina", "Första sidan"),
    "You are invited to %(service)s": ("Zaproszenie do %(service)s", "Je bent uitgenodigd voor %(service)s", "Du är inbjuden till %(service)s"),
    "An administrator made an account for you at %(service)s, for %(email)s. To choose your password, open this page:": (
        "Administrator utworzył dla Ciebie konto w %(service)s dla adresu %(email)s. Aby ustawić hasło, otwórz tę stronę:",
        "Een beheerder heeft een account voor je aangemaakt bij %(service)s, voor %(email)s. Open deze pagina om je wachtwoord te kiezen:",
        "En administratör har skapat ett konto åt dig hos %(service)s, för %(email)s. Öppna den här sidan för att välja ditt lösenord:",
    ),
    "and enter this code:": ("i wpisz ten kod:", "en voer deze code in:", "och ange den här koden:"),
    'The code works once, until %(date)s. If it has expired, ask your administrator to send the invitation again, or use "Forgot your password?" on the sign-in page.': (
        "Kod działa raz, do %(date)s. Jeśli wygasł, poproś administratora o ponowne wysłanie zaproszenia albo użyj „Nie pamiętasz hasła?” na stronie logowania.",
        "De code werkt één keer, tot %(date)s. Is die verlopen, vraag je beheerder dan de uitnodiging opnieuw te sturen, of gebruik \u201eWachtwoord vergeten?\u201d op de aanmeldpagina.",
        "Koden fungerar en gång, till %(date)s. Om den har gått ut, be din administratör att skicka inbjudan igen, eller använd \u201dGlömt lösenordet?\u201d på inloggningssidan.",
    ),
    "After the password, you set up two-step verification: a code from an app on your phone, or one sent to you, at each sign-in.": (
        "Po ustawieniu hasła skonfigurujesz weryfikację dwuetapową: przy każdym logowaniu kod z aplikacji w telefonie albo kod wysłany do Ciebie.",
        "Na het wachtwoord stel je tweestapsverificatie in: bij elke aanmelding een code uit een app op je telefoon, of een code die je wordt gestuurd.",
        "Efter lösenordet ställer du in tvåstegsverifiering: vid varje inloggning en kod från en app i telefonen, eller en kod som skickas till dig.",
    ),
    "Nothing was changed": ("Nic nie zostało zmienione", "Er is niets gewijzigd", "Inget ändrades"),
    "Signing in": ("Logowanie", "Aanmelden", "Inloggning"),
    "Password accepted": ("Hasło przyjęte", "Wachtwoord geaccepteerd", "Lösenordet godtogs"),
    "Sign-in failed": ("Nieudane logowanie", "Aanmelding mislukt", "Inloggningen misslyckades"),
    "Sign-in paused after wrong attempts": (
        "Logowanie wstrzymane po błędnych próbach",
        "Aanmelden gepauzeerd na foute pogingen",
        "Inloggning pausad efter felaktiga försök",
    ),
    "Sign-in ended after five wrong codes": (
        "Logowanie przerwane po pięciu błędnych kodach",
        "Aanmelding beëindigd na vijf foute codes",
        "Inloggningen avbröts efter fem felaktiga koder",
    ),
    "A code was used a second time (refused)": (
        "Kod użyto drugi raz (odrzucony)",
        "Een code werd een tweede keer gebruikt (geweigerd)",
        "En kod användes en andra gång (nekad)",
    ),
    "Browser remembered": ("Przeglądarka zapamiętana", "Browser onthouden", "Webbläsaren ihågkommen"),
    "Code sent": ("Kod wysłany", "Code verstuurd", "Kod skickad"),
    "Code or invitation could not be sent": (
        "Nie udało się wysłać kodu ani zaproszenia",
        "Code of uitnodiging kon niet worden verstuurd",
        "Koden eller inbjudan kunde inte skickas",
    ),
    "Signed out": ("Wylogowano", "Afgemeld", "Utloggad"),
    "Confirmed it's them again": ("Ponownie potwierdził(a) tożsamość", "Bevestigde opnieuw wie die is", "Bekräftade igen att det var hen"),
    "Sessions ended by an administrator": (
        "Sesje zakończone przez administratora",
        "Sessies beëindigd door een beheerder",
        "Sessioner avslutade av en administratör",
    ),
    "Two-step methods": ("Metody dwuetapowe", "Tweestapsmethoden", "Tvåstegsmetoder"),
    "Method set up or new recovery codes": (
        "Skonfigurowano metodę lub nowe kody odzyskiwania",
        "Methode ingesteld of nieuwe herstelcodes",
        "Metod inställd eller nya återställningskoder",
    ),
    "Wrong code while setting up a method": (
        "Błędny kod przy konfigurowaniu metody",
        "Foute code bij het instellen van een methode",
        "Fel kod när en metod ställdes in",
    ),
    "Method removed": ("Metoda usunięta", "Methode verwijderd", "Metod borttagen"),
    "Unfinished method withdrawn": ("Wycofano niedokończoną metodę", "Onvoltooide methode ingetrokken", "Ofullbordad metod återkallad"),
    "Method turned off after too many wrong codes": (
        "Metoda wyłączona po zbyt wielu błędnych kodach",
        "Methode uitgeschakeld na te veel foute codes",
        "Metoden stängdes av efter för många felaktiga koder",
    ),
    "Mailbox confirmed": ("Skrzynka pocztowa potwierdzona", "Mailbox bevestigd", "Brevlådan bekräftad"),
    "Mailbox check failed": ("Nieudane sprawdzenie skrzynki", "Mailboxcontrole mislukt", "Kontrollen av brevlådan misslyckades"),
    "Password changed": ("Hasło zmienione", "Wachtwoord gewijzigd", "Lösenordet ändrat"),
    "Password change failed": ("Nieudana zmiana hasła", "Wachtwoordwijziging mislukt", "Lösenordsbytet misslyckades"),
    "Password reset asked for": ("Prośba o reset hasła", "Wachtwoordherstel aangevraagd", "Återställning av lösenord begärd"),
    "Password reset code accepted": (
        "Kod resetu hasła przyjęty",
        "Herstelcode voor wachtwoord geaccepteerd",
        "Koden för lösenordsåterställning godtogs",
    ),
    "Imported password upgraded": ("Zaimportowane hasło zaktualizowane", "Geïmporteerd wachtwoord bijgewerkt", "Importerat lösenord uppgraderat"),
    "Accounts and administration": ("Konta i administracja", "Accounts en beheer", "Konton och administration"),
    "Account created": ("Konto utworzone", "Account aangemaakt", "Konto skapat"),
    "Invitation sent": ("Zaproszenie wysłane", "Uitnodiging verstuurd", "Inbjudan skickad"),
    "Account changed by an administrator": (
        "Konto zmienione przez administratora",
        "Account gewijzigd door een beheerder",
        "Kontot ändrat av en administratör",
    ),
    "Account deleted": ("Konto usunięte", "Account verwijderd", "Kontot borttaget"),
    "Users imported": ("Użytkownicy zaimportowani", "Gebruikers geïmporteerd", "Användare importerade"),
    "Roles changed": ("Role zmienione", "Rollen gewijzigd", "Roller ändrade"),
    "Administrator action": ("Działanie administratora", "Beheerdersactie", "Administratörsåtgärd"),
    "Refused: not an administrator": ("Odmowa: to nie administrator", "Geweigerd: geen beheerder", "Nekad: inte administratör"),
    "Policy changed": ("Zasady zmienione", "Beleid gewijzigd", "Policyn ändrad"),
    "API key created": ("Klucz API utworzony", "API-sleutel aangemaakt", "API-nyckel skapad"),
    "API key revoked": ("Klucz API unieważniony", "API-sleutel ingetrokken", "API-nyckel återkallad"),
    "Application registered": ("Aplikacja zarejestrowana", "Applicatie geregistreerd", "Applikation registrerad"),
    "Application changed": ("Aplikacja zmieniona", "Applicatie gewijzigd", "Applikation ändrad"),
    "Application deleted": ("Aplikacja usunięta", "Applicatie verwijderd", "Applikation borttagen"),
    "Application secret replaced": ("Sekret aplikacji wymieniony", "Applicatiegeheim vervangen", "Applikationens hemlighet ersatt"),
    "Authorization code used twice (refused)": (
        "Kod autoryzacji użyty dwa razy (odrzucony)",
        "Autorisatiecode twee keer gebruikt (geweigerd)",
        "Auktoriseringskod använd två gånger (nekad)",
    ),
    "Refresh token used twice (refused)": (
        "Token odświeżania użyty dwa razy (odrzucony)",
        "Vernieuwingstoken twee keer gebruikt (geweigerd)",
        "Förnyelsetoken använd två gånger (nekad)",
    ),
    "reset two-step verification": ("zresetował(a) weryfikację dwuetapową", "tweestapsverificatie gereset", "återställde tvåstegsverifieringen"),
    "unlocked the account": ("odblokował(a) konto", "account ontgrendeld", "låste upp kontot"),
    "signed out everywhere": ("wylogował(a) wszędzie", "overal afgemeld", "loggade ut överallt"),
    "deleted the account": ("usunął/usunęła konto", "account verwijderd", "tog bort kontot"),
    "made administrator": ("nadał(a) rolę administratora", "tot beheerder gemaakt", "gjorde till administratör"),
    "removed the administrator role": ("odebrał(a) rolę administratora", "beheerdersrol afgenomen", "tog bort administratörsrollen"),
    "exported the audit log": ("wyeksportował(a) dziennik zdarzeń", "auditlogboek geëxporteerd", "exporterade granskningsloggen"),
    "invited": ("zaprosił(a)", "uitgenodigd", "bjöd in"),
    "invited a list of people": ("zaprosił(a) listę osób", "een lijst mensen uitgenodigd", "bjöd in en lista med personer"),
    "sent the invitation again": ("wysłał(a) zaproszenie ponownie", "uitnodiging opnieuw verstuurd", "skickade inbjudan igen"),
    "reset two-step verification of several users": (
        "zresetował(a) weryfikację dwuetapową kilku użytkowników",
        "tweestapsverificatie van meerdere gebruikers gereset",
        "återställde tvåstegsverifieringen för flera användare",
    ),
    "signed out several users": ("wylogował(a) kilku użytkowników", "meerdere gebruikers afgemeld", "loggade ut flera användare"),
    "deleted several accounts": ("usunął/usunęła kilka kont", "meerdere accounts verwijderd", "tog bort flera konton"),
    "%(browser)s on %(system)s": ("%(browser)s w systemie %(system)s", "%(browser)s op %(system)s", "%(browser)s på %(system)s"),
    "The name contains a character that is not allowed.": (
        "Nazwa zawiera niedozwolony znak.",
        "De naam bevat een teken dat niet is toegestaan.",
        "Namnet innehåller ett tecken som inte är tillåtet.",
    ),
    "Choose one of the languages.": ("Wybierz jeden z języków.", "Kies een van de talen.", "Välj ett av språken."),
    "Paste at least one email address, or choose a file.": (
        "Wklej co najmniej jeden adres e-mail albo wybierz plik.",
        "Plak minstens één e-mailadres, of kies een bestand.",
        "Klistra in minst en e-postadress, eller välj en fil.",
    ),
    "This file is not text in UTF-8. Save it as CSV (UTF-8) and choose it again.": (
        "Ten plik nie jest tekstem w UTF-8. Zapisz go jako CSV (UTF-8) i wybierz ponownie.",
        "Dit bestand is geen tekst in UTF-8. Sla het op als CSV (UTF-8) en kies het opnieuw.",
        "Filen är inte text i UTF-8. Spara den som CSV (UTF-8) och välj den igen.",
    ),
    "Nobody on the list can be invited. The reasons are below.": (
        "Nikogo z listy nie można zaprosić. Powody są poniżej.",
        "Niemand op de lijst kan worden uitgenodigd. De redenen staan hieronder.",
        "Ingen på listan kan bjudas in. Skälen står nedan.",
    ),
    "This user has already chosen a password: there is no invitation to send.": (
        "Ten użytkownik ma już hasło: nie ma zaproszenia do wysłania.",
        "Deze gebruiker heeft al een wachtwoord gekozen: er is geen uitnodiging om te versturen.",
        "Användaren har redan valt ett lösenord: det finns ingen inbjudan att skicka.",
    ),
    "Choose at least one user in the list first.": (
        "Najpierw wybierz co najmniej jednego użytkownika z listy.",
        "Kies eerst minstens één gebruiker in de lijst.",
        "Välj först minst en användare i listan.",
    ),
    "Choose what to do with the chosen users.": (
        "Wybierz, co zrobić z wybranymi użytkownikami.",
        "Kies wat er met de gekozen gebruikers moet gebeuren.",
        "Välj vad som ska göras med de valda användarna.",
    ),
    "Type %(count)s to confirm.": ("Wpisz %(count)s, aby potwierdzić.", "Typ %(count)s om te bevestigen.", "Skriv %(count)s för att bekräfta."),
    "You can't sign yourself out from here.": (
        "Nie możesz się stąd wylogować.",
        "Je kunt jezelf hier niet afmelden.",
        "Du kan inte logga ut dig själv härifrån.",
    ),
    "not a valid email address": ("to nie jest poprawny adres e-mail", "geen geldig e-mailadres", "ingen giltig e-postadress"),
    "the same address as line %(line)s": ("ten sam adres co w wierszu %(line)s", "hetzelfde adres als regel %(line)s", "samma adress som rad %(line)s"),
    "the name is longer than 200 characters": (
        "nazwa ma ponad 200 znaków",
        "de naam is langer dan 200 tekens",
        "namnet är längre än 200 tecken",
    ),
    "contains a character that is not allowed": (
        "zawiera niedozwolony znak",
        "bevat een teken dat niet is toegestaan",
        "innehåller ett tecken som inte är tillåtet",
    ),
    "unknown language %(detail)s (use en, pl, nl or sv)": (
        "nieznany język %(detail)s (użyj en, pl, nl lub sv)",
        "onbekende taal %(detail)s (gebruik en, pl, nl of sv)",
        "okänt språk %(detail)s (använd en, pl, nl eller sv)",
    ),
    "not a role name: %(detail)s": ("to nie jest nazwa roli: %(detail)s", "geen rolnaam: %(detail)s", "inget rollnamn: %(detail)s"),
    "more than 1,000 people at once: invite the others in a second round": (
        "ponad 1000 osób naraz: pozostałe zaproś w drugiej turze",
        "meer dan 1.000 mensen tegelijk: nodig de anderen in een tweede ronde uit",
        "fler än 1 000 personer åt gången: bjud in de andra i en andra omgång",
    ),
    "unknown column(s): %(detail)s (use email, name, language, roles)": (
        "nieznane kolumny: %(detail)s (użyj email, name, language, roles)",
        "onbekende kolom(men): %(detail)s (gebruik email, name, language, roles)",
        "okända kolumner: %(detail)s (använd email, name, language, roles)",
    ),
    "the administrator role is given on the user's page": (
        "rolę administratora nadaje się na stronie użytkownika",
        "de beheerdersrol wordt op de pagina van de gebruiker gegeven",
        "administratörsrollen ges på användarens sida",
    ),
    "The account was created and the invitation sent.": (
        "Konto zostało utworzone, a zaproszenie wysłane.",
        "Het account is aangemaakt en de uitnodiging verstuurd.",
        "Kontot skapades och inbjudan skickades.",
    ),
    "The account was created, but the invitation could not be sent. Check the mail settings, then send it again.": (
        "Konto zostało utworzone, ale nie udało się wysłać zaproszenia. Sprawdź ustawienia poczty, a potem wyślij je ponownie.",
        "Het account is aangemaakt, maar de uitnodiging kon niet worden verstuurd. Controleer de mailinstellingen en stuur haar daarna opnieuw.",
        "Kontot skapades, men inbjudan kunde inte skickas. Kontrollera e-postinställningarna och skicka den sedan igen.",
    ),
    "A new invitation was sent. The code in the earlier one no longer works.": (
        "Wysłano nowe zaproszenie. Kod z wcześniejszego już nie działa.",
        "Er is een nieuwe uitnodiging verstuurd. De code in de eerdere werkt niet meer.",
        "En ny inbjudan skickades. Koden i den tidigare fungerar inte längre.",
    ),
    "Some figures are from %(when)s: counting them takes a while with this many accounts, so they are refreshed once a minute.": (
        "Niektóre liczby pochodzą z %(when)s: przy tylu kontach ich liczenie trwa, więc są odświeżane raz na minutę.",
        "Sommige cijfers zijn van %(when)s: met zoveel accounts duurt het tellen even, dus ze worden eens per minuut vernieuwd.",
        "Vissa siffror är från %(when)s: med så många konton tar det en stund att räkna dem, så de uppdateras en gång i minuten.",
    ),
    "Roles of %(email)s": ("Role użytkownika %(email)s", "Rollen van %(email)s", "Roller för %(email)s"),
    ("%(num)s account", "%(num)s accounts"): (
        ("%(num)s konto", "%(num)s konta", "%(num)s kont"),
        ("%(num)s account", "%(num)s accounts"),
        ("%(num)s konto", "%(num)s konton"),
    ),
    ("%(num)s sign-in left", "%(num)s sign-ins left"): (
        ("zostało %(num)s logowanie", "zostały %(num)s logowania", "zostało %(num)s logowań"),
        ("nog %(num)s aanmelding", "nog %(num)s aanmeldingen"),
        ("%(num)s inloggning kvar", "%(num)s inloggningar kvar"),
    ),
    "Welcome! Choose the password for %(email)s: enter the 8-character code from your invitation email, then the new password.": (
        "Witamy! Ustaw hasło dla %(email)s: wpisz 8-znakowy kod z e-maila z zaproszeniem, a potem nowe hasło.",
        "Welkom! Kies het wachtwoord voor %(email)s: voer de code van 8 tekens uit je uitnodigingsmail in, en dan het nieuwe wachtwoord.",
        "Välkommen! Välj lösenordet för %(email)s: ange koden på 8 tecken från inbjudan i e-posten och sedan det nya lösenordet.",
    ),
}


def _quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _entry(msgid: object, translation: object) -> str:
    if isinstance(msgid, tuple):
        assert isinstance(translation, tuple)
        lines = [f"msgid {_quote(msgid[0])}", f"msgid_plural {_quote(msgid[1])}"]
        lines += [f"msgstr[{i}] {_quote(form)}" for i, form in enumerate(translation)]
        return "\n".join(lines)
    assert isinstance(msgid, str) and isinstance(translation, str)
    return f"msgid {_quote(msgid)}\nmsgstr {_quote(translation)}"


def main() -> None:
    for index, language in enumerate(("pl", "nl", "sv")):
        path = ROOT / "src" / "twostep" / "locale" / language / "LC_MESSAGES" / "messages.po"
        with path.open("rb") as po:
            catalog = read_po(po, locale=language)
        have = {message.id if isinstance(message.id, str) else message.id[0] for message in catalog if message.id}
        added = []
        for msgid, translations in T.items():
            key = msgid if isinstance(msgid, str) else msgid[0]  # type: ignore[index]
            if key in have:
                continue
            added.append("#: src/twostep/web/admin\n" + _entry(msgid, translations[index]))
        if added:
            with path.open("a", encoding="utf-8") as out:
                out.write("\n" + "\n\n".join(added) + "\n")
        print(language, len(added))


if __name__ == "__main__":
    main()
