"""What the pages share, one module per concern (Streamlit only: the maths is in asdcore).

    cache         cached reads of a run's eval/ files
    data_folders  what the data-set folders hold: a change stamp and the data check
    url_state     the run pickers and other choices kept in the URL's query parameters
    empty_states  what a page says when there is nothing to show, and what to do next
    clip_picker   filters and a box to choose one clip of a run (?clip=)
    logmel        a clip's log-mel for display, as the run's model saw it
    clip_view     one clip shown: audio, spectrogram with attention, facts, nearest training normals

Nothing is imported here, so a page loads only the modules it uses.
"""
